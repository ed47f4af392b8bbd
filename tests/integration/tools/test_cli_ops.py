"""Operator commands: `ballot keys generate` and `ballot ledger migrate`."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ballot.cli import main
from ballot.tools import pinned_keys
from ledger.format.keys import Signer, Verifier
from ledger.storage import sql


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


def test_export_to_a_missing_directory_is_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ballot export -o` into a folder that does not exist: a message and exit 2, no traceback."""
    target = tmp_path / "nonexistent" / "dir" / "x.ndjson"
    argv = ["export", "--url", "http://127.0.0.1:9", "--election", "e", "-o", str(target)]
    assert main(argv) == 2
    assert f"no such directory: {target.parent}" in capsys.readouterr().err


def test_receipt_check_of_a_missing_file_says_no_such_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A receipt argument that is neither a file nor a receipt is reported as a missing file."""
    missing = tmp_path / "receipt.json"
    assert main(["receipt", "check", str(missing), "--offline"]) == 2
    assert f"no such file: {missing}" in capsys.readouterr().err


def test_receipt_check_of_a_malformed_inline_receipt_is_a_failed_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Inline JSON that is not a receipt stays a failed check (exit 1), not a missing file."""
    assert main(["receipt", "check", '{"a": 1}', "--offline"]) == 1
    assert "no such file" not in capsys.readouterr().out


def test_receipt_check_of_a_file_that_is_no_receipt_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ballot receipt check README.md` (or an empty file) is not a receipt (exit 2), not a
    failed check (exit 1)."""
    readme = tmp_path / "README.md"
    readme.write_text("# A project\n\nSome words.\n", encoding="utf-8")
    empty = tmp_path / "empty.json"
    empty.write_text("", encoding="utf-8")
    for path in (readme, empty):
        assert main(["receipt", "check", str(path), "--offline"]) == 2
        captured = capsys.readouterr()
        assert f"{path} is not a receipt" in captured.err
        assert "receipt check FAILED" not in captured.out


def test_audit_of_a_file_that_is_no_export_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ballot audit README.md` is not an export (exit 2), not a failed audit (exit 1)."""
    readme = tmp_path / "README.md"
    readme.write_text("# A project\n\nSome words.\n", encoding="utf-8")
    for extra in ([], ["--hashes-only"]):
        assert main(["audit", str(readme), *extra]) == 2
        captured = capsys.readouterr()
        assert "is not a ballot-ledger export" in captured.err
        assert "audit FAILED" not in captured.out


def test_key_options_read_a_key_file_and_refuse_what_is_neither(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--key takes the key or a file holding it; anything else is a clear message, exit 2."""
    key = Signer(name="example.org/ledger", seed=bytes(32)).verifier.text()
    keyfile = tmp_path / "ledger.pub"
    keyfile.write_text(f"# the ledger's key\n{key}\n", encoding="utf-8")
    assert pinned_keys([str(keyfile), key], "--key") == [key, key]
    readme = tmp_path / "README.md"
    readme.write_text("# A project\n\nSome words.\n", encoding="utf-8")
    assert main(["audit", str(readme), "--key", str(readme)]) == 2
    assert f"--key {readme}: line 3 is not a verifier key" in capsys.readouterr().err
    assert main(["receipt", "check", "{}", "--offline", "--key", "nokey.pub"]) == 2
    err = capsys.readouterr().err
    assert "'nokey.pub' is neither a verifier key" in err and "nor an existing file" in err


def test_audit_of_a_file_and_a_url_at_once_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ballot audit FILE --url U --election E` is refused (exit 2: give FILE or --url, not
    both) rather than silently auditing the URL; no download is tried."""
    export = tmp_path / "e.export.ndjson"
    export.write_text("", encoding="utf-8")
    argv = ["audit", str(export), "--url", "http://127.0.0.1:9", "--election", "e"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "give an export FILE or --url, not both" in err
    assert "cannot reach" not in err


@pytest.mark.parametrize("election", ["x\n", "X", "x/../y", "-x", "a" * 64, " x"])
def test_export_and_audit_refuse_an_election_that_is_no_id(
    election: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ballot export --election $'x\\n'` (or any id not matching the pattern whole) is
    refused (exit 2) before any request, not sent as election `x`; so is `ballot audit
    --url`."""
    target = tmp_path / "x.ndjson"
    argv = ["export", "--url", "http://127.0.0.1:9", f"--election={election}", "-o", str(target)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--election" in err and "[a-z0-9][a-z0-9_-]{0,62}" in err, err
    assert "cannot reach" not in err
    assert main(["audit", "--url", "http://127.0.0.1:9", f"--election={election}"]) == 2
    err = capsys.readouterr().err
    assert "--election" in err and "[a-z0-9][a-z0-9_-]{0,62}" in err, err
    assert not target.exists()
