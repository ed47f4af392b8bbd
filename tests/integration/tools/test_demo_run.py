"""`ballot demo` (what `make demo` runs), end to end on a small roll: it starts its own
PostgreSQL, ledger and counter, and its log carries every part a returning officer reads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_the_demo_runs_end_to_end_and_reads_as_prose(tmp_path: Path) -> None:
    """A small demo exits 0; its log has the approval of each provisional result, the
    margins, the ledger's final turnout by region (voted of eligible), the comparison with
    the last election, a passing audit whose recounts equal the declarations, and the
    figures of the run; no Python dict or list is printed for a rule or a result."""
    env = {**os.environ, "COLUMNS": "100", "BALLOT_LOG_FORMAT": "console"}
    small = ["--members", "1500", "--branches", "40", "--clients", "8"]
    run = subprocess.run(
        [sys.executable, "-m", "ballot.cli", "demo", *small, "--data-dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    out = " ".join(run.stdout.split())
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert out.count("approved by the returning officer") == 4
    assert "Runner-up: " in out and " behind the " in out
    assert "Turnout as the ledger published it after the close: Members' section: " in out
    assert " voted (" in out and "; by region: " in out
    assert "Against National Executive Committee 2024 (the demo's invented figures):" in out
    assert out.count("the recount equals the declaration") == 4 and "audit passed" in out
    assert "Figures of this run" in out and "whole demo" in out
    assert "{'" not in out and "['" not in out
