"""`ballot booth codes`: one code per member for a mail merge, only keyed hashes kept, reissue
revokes."""

from __future__ import annotations

import asyncio
import csv
import stat
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ballot.cli import main
from booth.domain import codes
from booth.runtime.settings import Settings, load_secret

from ..conftest import ROLL_CSV


def _read(path: Path) -> dict[str, str]:
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["election"] for r in rows} <= {"e1"}
    return {r["voter_id"]: r["code"] for r in rows}


async def _hashes(url: str) -> dict[str, bytes]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT voter_id, code_hash FROM booth_members")
        return {r["voter_id"]: bytes(r["code_hash"]) for r in rows}
    finally:
        await conn.close()


def test_codes_are_issued_once_per_member_written_privately_and_reissued(
    fresh_database: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """60 members get 60 distinct codes in a 0600 file; the database holds only their keyed
    hashes; a second run issues none; --reissue replaces one code; no file is overwritten."""
    url = fresh_database()
    monkeypatch.setenv("BALLOT_BOOTH_DATABASE_URL", url)
    roll = tmp_path / "roll.csv"
    roll.write_text(ROLL_CSV)
    data = ["--data-dir", str(tmp_path / "booth")]
    out = tmp_path / "codes.csv"
    assert (
        main(["booth", "codes", "--election", "e1", "--roll", str(roll), "-o", str(out), *data])
        == 0
    )
    issued = _read(out)
    assert len(issued) == 60 and len(set(issued.values())) == 60
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert all(codes.normalise(c) == c for c in issued.values())

    secret = load_secret(Settings(data_dir=tmp_path / "booth"))
    stored = asyncio.run(_hashes(url))
    assert stored == {v: codes.code_hash(secret, c) for v, c in issued.items()}

    again = tmp_path / "again.csv"
    assert (
        main(["booth", "codes", "--election", "e1", "--roll", str(roll), "-o", str(again), *data])
        == 0
    )
    assert _read(again) == {}
    assert (
        main(["booth", "codes", "--election", "e1", "--roll", str(roll), "-o", str(out), *data])
        == 2
    )

    new = tmp_path / "new.csv"
    assert (
        main(["booth", "codes", "--election", "e1", "--reissue", "v007", "-o", str(new), *data])
        == 0
    )
    (code,) = _read(new).values()
    after = asyncio.run(_hashes(url))
    assert after["v007"] == codes.code_hash(secret, code) != stored["v007"]
    assert {v: h for v, h in after.items() if v != "v007"} == {
        v: h for v, h in stored.items() if v != "v007"
    }
    bad = tmp_path / "bad.csv"
    assert (
        main(["booth", "codes", "--election", "e1", "--reissue", "nobody", "-o", str(bad), *data])
        == 2
    )
    assert not bad.exists()
