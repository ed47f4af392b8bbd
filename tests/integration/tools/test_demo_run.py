"""`ballot demo` (what `make demo` runs), end to end on a small roll: it starts its own
PostgreSQL, ledger and counter, and its log carries every part a returning officer reads."""

from __future__ import annotations

import os
import signal
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


def _processes() -> dict[int, tuple[int, str]]:
    """Every process: pid -> (parent pid, command line)."""
    out = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out[int(proc.name)] = (ppid, cmdline)
    return out


def _started_by(root: int, data: Path) -> set[int]:
    """The processes ``root`` started (its descendants) and those naming ``data`` (the
    PostgreSQL it started, which pg_ctl detaches), ``root`` itself left out."""
    procs = _processes()
    found = {pid for pid, (_, cmd) in procs.items() if str(data) in cmd}
    grew = True
    while grew:
        more = {pid for pid, (ppid, _) in procs.items() if ppid in found | {root}}
        grew = not more <= found
        found |= more
    return found - {root}


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_stops_the_demo_and_everything_it_started(tmp_path: Path) -> None:
    """`ballot demo --keep-running` stopped with SIGTERM (as `kill` or a service manager
    does) stops its ledger, counter, booth and PostgreSQL too: nothing is left running."""
    data = tmp_path / "demo"
    small = ["--members", "600", "--branches", "30", "--clients", "4", "--keep-running"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ballot.cli", "demo", *small, "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
    )
    started: set[int] = set()
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:  # until the demo says its services are up
            lines.append(line)
            if "services are running" in line:
                break
        assert any("services are running" in x for x in lines), "".join(lines[-40:])
        started = _started_by(proc.pid, data)
        commands = " ".join(_processes()[pid][1] for pid in started)
        for service in ("ledger serve", "counter serve", "booth serve", "postgres"):
            assert service in commands, commands
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=120)
        left = {pid: _processes().get(pid) for pid in started if _alive(pid)}
        assert left == {}, rest[-2000:]
    finally:  # a failed run leaves nothing behind either
        for pid in [proc.pid, *started]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=60)
