"""The embedded PostgreSQL: starts with no DATABASE_URL, as root and as a normal user."""

from __future__ import annotations

import os
import pwd
import tempfile
from pathlib import Path

import asyncpg
import pytest

from ledger.runtime.embedded import EmbeddedPostgres, database_url, find_bin_dir


async def _version(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def test_starts_reuses_and_stops(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A cluster starts in a fresh folder, a second handle reuses it, only the starter stops it."""
    root = Path(tempfile.mkdtemp(prefix="ballot-emb-"))
    root.chmod(0o711)
    first = EmbeddedPostgres(data_dir=root / "pg").start()
    try:
        assert first.started_here
        assert await _version(first.admin_url)
        second = EmbeddedPostgres(data_dir=root / "pg").start()
        assert not second.started_here and second.port == first.port
        second.stop()  # not ours: a no-op
        assert await _version(first.admin_url)
    finally:
        first.stop()
    assert not (root / "pg" / "postmaster.pid").exists()


def test_database_url_prefers_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """With DATABASE_URL set, no cluster is started and that URL is used."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://example/db")
    with database_url(Path("/nonexistent")) as url:
        assert url == "postgresql://example/db"


def test_binaries_are_found() -> None:
    """initdb and pg_ctl are found (system PostgreSQL or the pgserver wheel)."""
    bin_dir = find_bin_dir()
    assert (bin_dir / "initdb").exists() and (bin_dir / "pg_ctl").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="the normal-user path is every other test here")
def test_works_as_a_normal_user() -> None:
    """As an unprivileged user the module runs initdb and pg_ctl itself, and stops its cluster.

    A forked child drops to ``nobody`` (the interpreter is already loaded, so it needs no
    access to root's Python installation) and starts, uses and stops a cluster.
    """
    import asyncio

    user = pwd.getpwnam("nobody")
    work = Path(tempfile.mkdtemp(prefix="ballot-user-"))
    os.chown(work, user.pw_uid, user.pw_gid)
    work.chmod(0o755)
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            os.chdir(work)
            os.environ["HOME"] = str(work)  # asyncpg looks for ~/.pgpass
            cluster = EmbeddedPostgres(data_dir=work / "pg").start()
            try:
                ok = cluster.started_here and (work / "pg").owner() == "nobody"
                ok = ok and bool(asyncio.run(_version(cluster.admin_url)))
            finally:
                cluster.stop()
            code = 0 if ok and not (work / "pg" / "postmaster.pid").exists() else 2
        except BaseException as exc:
            (work / "error.txt").write_text(repr(exc))
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    error = (work / "error.txt").read_text() if (work / "error.txt").exists() else ""
    assert os.waitstatus_to_exitcode(status) == 0, error
