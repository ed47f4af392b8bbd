"""`ballot audit --hashes-only` on export files: one process or several, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ballot.bench import synthetic
from ballot.bench.audit import write_export
from ballot.cli import main
from ballot.verify import verify_export
from ledger.errors import LedgerError
from ledger.format.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.format.keys import Keyring, Signer
from ledger.format.verify import VerifyError


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    log = synthetic.build(voters=300, seed=5)
    path = tmp_path_factory.mktemp("export") / "log.ndjson"
    write_export(log, path)
    return path


@pytest.mark.parametrize("jobs", [1, 2, 3, 7])
def test_any_number_of_processes_verifies_the_same_log(export: Path, jobs: int) -> None:
    keyring = Keyring([synthetic.SYNTH_SIGNER.verifier])
    verified = verify_export(export, keyring, jobs)
    lines = export.read_bytes().splitlines()
    entries = sum(1 for line in lines if line.startswith(b'{"kind":"entry"'))
    checkpoints = sum(1 for line in lines if line.startswith(b'{"kind":"checkpoint"'))
    assert (verified.entries, verified.checkpoints) == (entries, checkpoints)
    assert verified.jobs == min(jobs, entries)


def _rewrite(src: Path, dst: Path, edit: dict[int, bytes | None]) -> Path:
    lines = src.read_bytes().splitlines(keepends=True)
    out = [edit.get(i, line) for i, line in enumerate(lines)]
    dst.write_bytes(b"".join(line for line in out if line is not None))
    return dst


def test_a_tampered_export_is_refused_on_every_process_count(export: Path, tmp_path: Path) -> None:
    lines = export.read_bytes().splitlines(keepends=True)
    first_entry = next(i for i, line in enumerate(lines) if line.startswith(b'{"kind":"entry"'))
    last_cp = first_entry - 1
    cp = json.loads(lines[last_cp])
    forged_root = cp["note"].split("\n")
    forged_root[2] = "A" * 43 + "="
    changed = lines[first_entry + 250]
    cases: dict[str, tuple[dict[int, bytes | None], str]] = {
        "an entry dropped": ({first_entry + 100: None}, "entries out of order"),
        "a checkpoint's root changed": (
            {last_cp: (json.dumps({**cp, "note": "\n".join(forged_root)}) + "\n").encode()},
            "checkpoint signature does not verify",
        ),
        "an entry's text changed": (
            {first_entry + 250: changed.replace(b'\\"election\\":', b'\\"election\\": ', 1)},
            "leaf hash differs",
        ),
    }
    keyring = Keyring([synthetic.SYNTH_SIGNER.verifier])
    for edit, message in cases.values():
        bad = _rewrite(export, tmp_path / "bad.ndjson", edit)
        for jobs in (1, 2):
            with pytest.raises(LedgerError, match=message):
                verify_export(bad, keyring, jobs)


def test_checkpoints_need_a_pinned_key(export: Path) -> None:
    stranger = Keyring([Signer.generate("ballot-ledger.synthetic/ledger").verifier])
    with pytest.raises(LedgerError, match="no signature by a trusted key"):
        verify_export(export, stranger, 2)


def test_the_command_reports_and_exits_by_the_result(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = synthetic.SYNTH_SIGNER.verifier.text()
    assert main(["audit", str(export), "--hashes-only", "--key", key, "--jobs", "2"]) == 0
    assert "hashes verified" in capsys.readouterr().out
    assert main(["audit", str(export), "--hashes-only", "--json", "--key", key]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["entries"] > 500
    lines = export.read_bytes().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith(b'{"kind":"entry"')) + 3
    bad = _rewrite(
        export,
        tmp_path / "bad.ndjson",
        {at: lines[at].replace(b'"leaf_hash":"', b'"leaf_hash":"f', 1)[:-3] + b'"}\n'},
    )
    assert main(["audit", str(bad), "--hashes-only", "--key", key]) == 1
    assert "hashes FAILED" in capsys.readouterr().out
    assert main(["audit", str(tmp_path / "missing.ndjson"), "--hashes-only"]) == 2
    assert main(["audit", str(export), "--hashes-only", "--jobs", "0"]) == 2


def test_a_file_that_is_not_an_export_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.ndjson"
    path.write_text('{"kind":"entry"}\n')
    with pytest.raises(VerifyError, match="not a ballot-ledger export"):
        verify_export(path)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no checkpoint at all", "no checkpoint covers the log's last entry"),
        ("the last checkpoint dropped", "no checkpoint covers the log's last entry"),
        ("two checkpoints swapped", "checkpoint sizes do not increase"),
        ("a size written as a string", "malformed checkpoint line"),
    ],
)
def test_every_entry_must_be_covered_by_a_signed_checkpoint(
    export: Path, tmp_path: Path, case: str, message: str
) -> None:
    """§12: checkpoint lines come in increasing size, the last at the header's size, so that a
    signature covers every entry; the hashes-only reader refuses an export that breaks this."""
    lines = export.read_bytes().splitlines(keepends=True)
    cps = [i for i, line in enumerate(lines) if line.startswith(b'{"kind":"checkpoint"')]
    edit: dict[int, bytes | None]
    if case == "no checkpoint at all":
        edit = dict.fromkeys(cps)
    elif case == "the last checkpoint dropped":
        edit = {cps[-1]: None}
    elif case == "two checkpoints swapped":
        edit = {cps[0]: lines[cps[1]], cps[1]: lines[cps[0]]}
    else:
        cp = json.loads(lines[cps[0]])
        edit = {cps[0]: (json.dumps({**cp, "size": str(cp["size"])}) + "\n").encode()}
    bad = _rewrite(export, tmp_path / "bad.ndjson", edit)
    with pytest.raises(VerifyError, match=message):
        verify_export(bad, Keyring([synthetic.SYNTH_SIGNER.verifier]), 1)


def test_the_origin_must_be_the_elections_log(export: Path, tmp_path: Path) -> None:
    """§6: the hashes-only reader requires the header's origin to end with
    `/elections/<election>`, even when every checkpoint is signed for that origin."""
    lines = export.read_bytes().splitlines(keepends=True)
    header = json.loads(lines[0])
    origin = "ballot-ledger.synthetic/elections/another"
    keyring = Keyring([synthetic.SYNTH_SIGNER.verifier])
    edit: dict[int, bytes | None] = {0: (json.dumps({**header, "origin": origin}) + "\n").encode()}
    for i, line in enumerate(lines):
        if line.startswith(b'{"kind":"checkpoint"'):
            obj = json.loads(line)
            old = open_checkpoint(obj["note"], keyring, origin=header["origin"])
            note = sign_checkpoint(
                Checkpoint(origin=origin, size=old.size, root=old.root), [synthetic.SYNTH_SIGNER]
            ).note
            edit[i] = (json.dumps({**obj, "note": note}) + "\n").encode()
    bad = _rewrite(export, tmp_path / "other.ndjson", edit)
    with pytest.raises(VerifyError, match="origin is not this election's log"):
        verify_export(bad, keyring, 1)
