"""docs/running-an-election.md, run as written: its shell blocks, in order, in one shell."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from ledger.runtime.embedded import free_port

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "running-an-election.md"
VOTING = re.compile(r"<!-- simulated voting:.*?-->(.*?)<!-- end of simulated voting -->", re.S)


def shell_blocks(text: str) -> list[str]:
    """The ```sh blocks of a Markdown text, in order."""
    return re.findall(r"^```sh\n(.*?)^```$", text, re.S | re.M)


def test_members_vote_only_at_the_booth() -> None:
    """The simulated members' votes are one marked block that drives the booth's pages (sign-in,
    ballot, cast) and never the ledger's front-end API; the officer's blocks start the booth."""
    text = DOC.read_text()
    (marked,) = VOTING.findall(text)
    (block,) = shell_blocks(marked)
    assert all(f'"$BOOTH_URL/{page}"' in block for page in ("sign-in", "ballot", "cast"))
    assert "/ballots" not in text and "$BALLOT_URL" not in block and "TOKEN" not in block
    officer = "\n".join(shell_blocks(VOTING.sub("", text)))
    assert "ballot booth codes --election riverside-2027 --roll roll.csv" in officer
    assert "ballot booth serve --ledger" in officer


def test_the_walkthrough_runs_as_written(tmp_path: Path, fresh_database: Any) -> None:
    """Every shell block of the walk-through runs in one shell (services on free ports, own
    databases): the election is defined, voted at the booth with the codes issued, closed,
    counted and declared as it says."""
    script = "\n".join(shell_blocks(DOC.read_text()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BALLOT_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        LEDGER_PORT=str(free_port()),
        COUNTER_PORT=str(free_port()),
        BOOTH_PORT=str(free_port()),
        BALLOT_METRICS_PORT=str(free_port()),
        BALLOT_COUNTER_METRICS_PORT=str(free_port()),
        BALLOT_BOOTH_METRICS_PORT=str(free_port()),
        DATABASE_URL=fresh_database(),
        BALLOT_COUNTER_DATABASE_URL=fresh_database(),
        BALLOT_BOOTH_DATABASE_URL=fresh_database(),
    )
    bash = shutil.which("bash")
    assert bash is not None, "the walk-through is bash"
    proc = subprocess.Popen(
        [bash, "-e", "-o", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=280)  # a hang guard: the script's own waits end first
    finally:
        # The services the script started in the background are in its process group: they
        # end too, whether the script finished, failed or hung (a failed run left them up).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    logs = "".join(
        f"\n--- {p.name}\n{p.read_text()[-3000:]}" for p in (tmp_path / "var").glob("*.log")
    )
    assert proc.returncode == 0, out + logs
    assert "election riverside-2027 created" in out
    assert "roll of riverside-2027 published" in out and "officers: 12 eligible" in out
    assert "11 recorded, 0 already recorded, 0 refused" in out
    assert "Dev Sharma (dev): 1 nomination(s), not standing (needs 2)" in out
    assert "12 code(s) written to codes.csv" in out
    assert all(f"M{n} has voted" in out for n in (1001, 1002, 1003, 1004, 1005, 1006, 1007))
    assert "M1009 has voted" in out and "M1012 has voted" in out
    assert (
        "waiting to be released to the public log: 12 accepted ballot(s) (officers 9, youth 3)"
        in out
    )
    assert "poll closed; 12 sealed ballot(s) opened" in out
    assert "  12 accepted ballot(s) were waiting just before the close; the close released" in out
    assert re.search(r"^  counter: [a-z ]+; has verified \d+ of the log.s entries", out, re.M)
    assert re.search(r"officers: declared \(log entry \d+\), 9 valid ballot\(s\)", out), out
    assert "officers elected: Asha Patel, Carys Jones" in out
    assert "youth officer elected: Erin Walsh" in out
