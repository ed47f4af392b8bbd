"""`ballot bench audit`: how fast an auditor verifies a long log.

Builds a seeded synthetic election log of about ``--entries`` entries (sealed ballots and
their openings, nominations, turnout, signed checkpoints, counter-signed declarations), writes
it as an export file, then times, on that file:

1. the full audit (``counter.tally.audit.audit``): parse, canonical bytes, leaf and chain hashes,
   schemas, phase rules, every commitment, every checkpoint signature and root, the recount of
   every contest and the comparison with the declarations;
2. hashes and proofs alone (``ledger.format.verify.verify_export``, as ``ballot audit
   --hashes-only``): every leaf hash, chain link, checkpoint signature and Merkle root at
   every checkpoint, on one process and then on one per core (``--jobs``).

Printed as entries per second, with the machine's core count.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from ballot.bench import synthetic
from ballot.verify import verify_export
from counter.tally.audit import audit
from ledger.format import export as exp
from ledger.format.keys import Keyring

console = Console()


def add_parser(bench_sub: Any) -> None:
    p = bench_sub.add_parser("audit", help="audit speed on a synthetic log")
    p.add_argument("--entries", type=int, default=1_000_000, help="approximate log length")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--keep", type=Path, help="also keep the export file here")
    p.add_argument("--jobs", type=int, help="processes for the hash check (default: cores)")
    p.set_defaults(func=run)


def write_export(log: synthetic.SyntheticLog, path: Path) -> None:
    header = exp.Header(
        election=log.election,
        origin=log.origin,
        size=len(log.entries),
        ledger_keys=(synthetic.SYNTH_SIGNER.verifier.text(),),
        counter_keys=(synthetic.COUNTER_SIGNER.verifier.text(),),
    )
    with path.open("wb") as fh:
        fh.write(exp.header_line(header))
        seen: set[int] = set()
        for note in log.checkpoints:
            size = int(note.split("\n")[1])
            if size not in seen:
                seen.add(size)
                fh.write(exp.checkpoint_line(size, note))
        for i, (body, leaf, chain) in enumerate(
            zip(log.entries, log.leaves, log.chains, strict=True)
        ):
            fh.write(exp.entry_line(i, body, leaf, chain))


def run(args: argparse.Namespace) -> int:
    voters = max(10, int(args.entries / 1.93))
    console.print(f"building a synthetic log of ~{args.entries:,} entries ({voters:,} voters)…")
    started = time.perf_counter()
    log = synthetic.build(voters=voters, turnout=0.85, seed=args.seed)
    built = time.perf_counter() - started
    n = len(log.entries)
    console.print(f"built {n:,} entries, {len(log.checkpoints):,} checkpoints in {built:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "export.ndjson"
        write_export(log, path)
        del log
        size_mb = path.stat().st_size / 1e6
        keyring = Keyring([synthetic.SYNTH_SIGNER.verifier])
        hash_runs: list[tuple[int, int, float]] = []
        for jobs in sorted({1, args.jobs or os.cpu_count() or 1}):
            t0 = time.perf_counter()
            verified = verify_export(path, keyring, jobs)
            hash_runs.append((verified.jobs, verified.entries, time.perf_counter() - t0))
        with path.open("rb") as fh:
            t0 = time.perf_counter()
            report = audit(
                exp.parse_lines(fh),
                ledger_keys=[synthetic.SYNTH_SIGNER.verifier.text()],
                counter_keys=[synthetic.COUNTER_SIGNER.verifier.text()],
            )
            t_full = time.perf_counter() - t0
    if not report.ok:
        console.print(f"[red]the audit failed[/]: {report.failure}")
        return 1
    cores = os.cpu_count()
    console.print(f"export: {size_mb:,.0f} MB, {n:,} entries; machine: {cores} cores")
    for jobs, checked, t_hash in hash_runs:
        console.print(
            f"hashes, chain links, checkpoint signatures and roots on {jobs} process"
            f"{'es' if jobs > 1 else ''}: {checked:,} entries in {t_hash:.2f} s = "
            f"[bold]{checked / t_hash:,.0f} entries/s[/] (target 300,000)"
        )
    console.print(
        f"full audit (hashes, schemas, phases, commitments, signatures, recount): "
        f"{report.entries:,} entries in {t_full:.2f} s = [bold]{report.entries / t_full:,.0f} "
        f"entries/s[/]"
    )
    for contest, r in report.results.items():
        console.print(
            f"  {contest}: elected {', '.join(r['elected'])}; matches declaration: "
            f"{r.get('matches_declaration', False)}"
        )
    return 0
