"""Test harness: one real PostgreSQL per test run, a template database, a fresh clone per test.

With ``DATABASE_URL`` set (an admin URL to a cluster we may create databases on) the tests use
that cluster; otherwise they start an embedded one in a temporary directory, with durability
off (these clusters are thrown away), and stop it at the end.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from hypothesis import HealthCheck, settings

from ledger.runtime.embedded import FAST_SETTINGS, throwaway_cluster
from ledger.storage import sql

T = TypeVar("T")

# Property tests judge values, never time: no per-example deadline (200 ms by default) and no
# "data generation too slow" health check, both of which a loaded or slower machine can trip.
# A test's own @settings still sets what it names; the rest comes from this profile.
settings.register_profile("ballot", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ballot")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private loop in a thread (safe inside any loop)."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


async def _execute(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """Admin URL of the PostgreSQL cluster the tests use."""
    with throwaway_cluster("ballot-test-pg-", FAST_SETTINGS) as url:
        yield url


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> Iterator[str]:
    """A template database built once from ``schema.sql``."""
    name = f"ballot_template_{uuid.uuid4().hex[:8]}"
    run_sync(_execute(pg_admin_url, f'CREATE DATABASE "{name}"'))
    run_sync(_execute(with_database(pg_admin_url, name), sql.schema()))
    yield name
    run_sync(_execute(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def fresh_database(pg_admin_url: str) -> Iterator[Any]:
    """A factory of empty databases (no schema); each is dropped after the test."""
    made: list[str] = []

    def make(template: str = "template0") -> str:
        name = f"ballot_test_{uuid.uuid4().hex[:12]}"
        run_sync(_execute(pg_admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        made.append(name)
        return with_database(pg_admin_url, name)

    yield make
    for name in made:
        run_sync(_execute(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def db_url(fresh_database: Any, template_db: str) -> str:
    """URL of a fresh database with the whole schema, cloned from the template."""
    url: str = fresh_database(template_db)
    return url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a fresh database with the whole schema."""
    conn = await asyncpg.connect(db_url)
    try:
        yield conn
    finally:
        await conn.close()
