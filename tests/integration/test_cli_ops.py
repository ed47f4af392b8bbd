"""Operator commands: `ballot keys generate` and `ballot ledger migrate`."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ledger import sql
from ledger.cli import main
from ledger.keys import Signer, Verifier


def test_keys_generate_writes_a_private_key_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The key file is created 0600, its verifier is printed, and it is never overwritten."""
    path = tmp_path / "ledger.key"
    assert main(["keys", "generate", "example.org/ledger-2026", "-o", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    assert Verifier.parse(printed) == Signer.parse(path.read_text()).verifier
    before = path.read_text()
    assert main(["keys", "generate", "example.org/ledger-2026", "-o", str(path)]) == 2
    assert path.read_text() == before
    assert main(["keys", "generate", "bad name", "-o", str(tmp_path / "x.key")]) == 2


async def test_ledger_migrate_applies_then_reports_up_to_date(
    fresh_database: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ballot ledger migrate` applies every migration to an empty database, then none."""
    url = fresh_database()
    monkeypatch.setenv("DATABASE_URL", url)
    assert await asyncio.to_thread(main, ["ledger", "migrate"]) == 0
    assert "applied migrations: 0001_log, 0002_elections" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["ledger", "migrate"]) == 0
    assert "up to date" in capsys.readouterr().out
    conn = await asyncpg.connect(url)
    try:
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]
    finally:
        await conn.close()
    assert sorted(versions) == [v for v, _ in sql.migrations()]
