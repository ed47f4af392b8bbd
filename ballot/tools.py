"""Auditor and voter commands: `ballot export`, `ballot audit`, `ballot receipt check`.

Exit codes: 0 everything verified (for an acceptance receipt: in the log and unchanged, or
accepted and not yet released while the poll is open); 1 a verification failed (the evidence is
printed), including a split view: the log's history changed since a checkpoint seen before;
2 bad usage, unreadable input or an unreachable server; 3 a broken promise: an accepted ballot
is not in the log before ``poll_closed`` (receipt check writes the evidence file; audit with
``--receipts`` says which).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from ballot import receipt_check
from ledger.errors import CliError, LedgerError, VerificationError
from ledger.format import export as exp
from ledger.format.acceptance import AcceptanceReceipt
from ledger.format.evidence import Verdict, check_evidence
from ledger.format.keys import Keyring, Verifier
from ledger.runtime.keyfile import load_or_create_signer

if TYPE_CHECKING:
    from counter.tally.rounds import Promise

console = Console(stderr=True)
out = Console(soft_wrap=True)
DEFAULT_STATE = Path.home() / ".ballot-ledger" / "receipts.json"


def add_parsers(sub: Any) -> None:
    add_key_parsers(sub)
    p = sub.add_parser("export", help="download an election's whole public log")
    p.add_argument("--url", required=True, help="the ledger's base URL")
    p.add_argument("--election", required=True)
    p.add_argument("-o", "--output", type=Path, required=True, help="file to write (NDJSON)")
    p.set_defaults(func=run_export)

    a = sub.add_parser("audit", help="verify and recount an election from its public log")
    a.add_argument("file", nargs="?", type=Path, help="an export file (or --url, not both)")
    a.add_argument("--url", help="the ledger's base URL, to audit a live log")
    a.add_argument("--election", help="with --url: which election")
    a.add_argument("--key", action="append", default=[], help="pinned ledger verifier key")
    a.add_argument(
        "--counter-key",
        action="append",
        default=[],
        help="pinned counter verifier key (for result declarations)",
    )
    a.add_argument("--json", action="store_true", help="print a machine-readable report")
    a.add_argument(
        "--hashes-only",
        action="store_true",
        help="only hashes, chain links and checkpoint roots and signatures, on every core "
        "(no schemas, phases, commitments or recount)",
    )
    a.add_argument("--jobs", type=int, help="with --hashes-only: processes (default: one per core)")
    a.add_argument(
        "--receipts",
        nargs="+",
        action="extend",
        type=Path,
        default=[],
        metavar="FILE",
        help="acceptance receipts (or whole answers of a cast) whose ballots must be in the log "
        "before poll_closed; a missing one is a broken promise (exit 3)",
    )
    a.set_defaults(func=run_audit)

    r = sub.add_parser("receipt", help="voter tools")
    rsub = r.add_subparsers(dest="receipt_command", required=True, metavar="CMD")
    c = rsub.add_parser(
        "check", help="check a receipt of either stage, or a whole cast answer, against the log"
    )
    c.add_argument("receipt", help="receipt JSON file, '-' for standard input, or the JSON")
    c.add_argument("--url", help="the ledger's base URL")
    c.add_argument("--key", action="append", default=[], help="pinned ledger verifier key")
    c.add_argument(
        "--state",
        type=Path,
        default=DEFAULT_STATE,
        help=f"where checkpoints seen are remembered (default {DEFAULT_STATE})",
    )
    c.add_argument("--offline", action="store_true", help="verify without the server")
    c.add_argument(
        "--evidence",
        type=Path,
        help="where to write the evidence of a broken promise (default "
        "broken-promise-<code>.json; with several receipts, -<contest> is added to the name)",
    )
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=run_receipt_check)
    v = rsub.add_parser(
        "evidence", help="check a broken-promise evidence file, offline (exit 0 if it proves one)"
    )
    v.add_argument("file", type=Path, help="the evidence file (JSON)")
    v.add_argument(
        "--key",
        action="append",
        default=[],
        help="pinned ledger verifier key (default: the keys the file names, with a warning)",
    )
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=run_receipt_evidence)


def add_key_parsers(sub: Any) -> None:
    k = sub.add_parser("keys", help="signing keys")
    ksub = k.add_subparsers(dest="keys_command", required=True, metavar="CMD")
    g = ksub.add_parser("generate", help="make an Ed25519 signing key (C2SP signed-note format)")
    g.add_argument("name", help="the key's name, e.g. ballot-ledger.example.org/ledger-2026")
    g.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="file for the private key (created 0600; never overwritten)",
    )
    g.set_defaults(func=run_keys_generate)


def run_keys_generate(args: argparse.Namespace) -> int:

    if args.output.exists():
        raise CliError(f"{args.output} exists; a key is never overwritten")
    try:
        signer = load_or_create_signer(args.output, args.name)
    except LedgerError as exc:
        raise CliError(str(exc)) from exc
    out.print(f"private key written to {args.output} (mode 0600)")
    out.print("verifier key (publish it, pin it in auditors' and voters' tools):")
    sys.stdout.write(signer.verifier.text() + "\n")
    return 0


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


async def download(url: str, election: str, target: Path) -> int:
    """Stream the export to ``target``; return the number of entries."""
    endpoint = f"{url.rstrip('/')}/v1/elections/{election}/export"
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(endpoint) as r:
            if r.status != 200:
                raise CliError(f"{endpoint} answered {r.status}: {(await r.text())[:300]}")
            first = await r.content.readline()
            header = next(exp.parse_lines([first]))
            if not isinstance(header, exp.Header):
                raise CliError("the export does not start with a header")
            tmp = target.with_suffix(target.suffix + ".part")
            try:
                fh = tmp.open("wb")
            except OSError as exc:
                raise CliError(f"cannot write {tmp}: {exc.strerror or exc}") from exc
            with _progress() as bar, fh:
                task = bar.add_task("downloading", total=header.size)
                fh.write(first)
                async for line in r.content:
                    fh.write(line)
                    if line.startswith(b'{"kind":"entry"'):
                        bar.advance(task)
            tmp.replace(target)
            return header.size
    except aiohttp.ClientError as exc:
        raise CliError(f"cannot reach {endpoint}: {exc}") from exc


def _writable(target: Path) -> None:
    """Refuse, before any download, an output whose folder does not exist or is no folder."""
    folder = target.parent
    if not folder.is_dir():
        why = "no such directory" if not folder.exists() else "not a directory"
        raise CliError(f"cannot write {target}: {why}: {folder}")
    if target.is_dir():
        raise CliError(f"cannot write {target}: it is a directory")


_ELECTION = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def _election_id(value: str) -> str:
    """``--election`` as given, if it is an election id matched whole (a final newline, a
    slash or a capital would make the URL name another resource, or none)."""
    if _ELECTION.fullmatch(value) is None:
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise CliError(
            f"--election {shown!r} is not an election id: it must match "
            f"{_ELECTION.pattern} (1-63 of a-z, 0-9, _ and -)"
        )
    return value


def run_export(args: argparse.Namespace) -> int:
    _election_id(args.election)
    _writable(args.output)
    size = asyncio.run(download(args.url, args.election, args.output))
    out.print(f"wrote {args.output}: {size:,} entries of election {args.election}")
    return 0


def _lines(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as fh:
            yield from fh
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from exc


def pinned_keys(values: list[str], option: str) -> list[str]:
    """Verifier keys from ``--key``-style options: each value is the key itself or, when it
    names an existing file, that file (one key a line; blank and ``#`` lines skipped)."""
    keys: list[str] = []
    for value in values:
        path = Path(value)
        if path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CliError(f"{option} {value}: cannot read the file: {exc}") from exc
            lines = [
                (n, line.strip())
                for n, line in enumerate(text.splitlines(), start=1)
                if line.strip() and not line.lstrip().startswith("#")
            ]
            if not lines:
                raise CliError(f"{option} {value}: the file holds no verifier key")
            for n, line in lines:
                try:
                    Verifier.parse(line)
                except LedgerError as exc:
                    raise CliError(
                        f"{option} {value}: line {n} is not a verifier key ({exc.message})"
                    ) from exc
                keys.append(line)
            continue
        try:
            Verifier.parse(value)
        except LedgerError as exc:
            shown = value if len(value) <= 80 else value[:77] + "..."
            raise CliError(
                f"{option} {shown!r} is neither a verifier key (name+keyid+key: {exc.message}) "
                "nor an existing file"
            ) from exc
        keys.append(value.strip())
    return keys


def _require_export(path: Path) -> exp.Header:
    """Refuse a file that is not an export at all (exit 2), as opposed to an export that
    fails its audit (exit 1): its first non-blank line must be an export header."""
    if not path.is_file():
        why = "no such file" if not path.exists() else "not a file"
        raise CliError(f"cannot read {path}: {why}")
    try:
        with path.open("rb") as fh:
            first = next((line for line in fh if line.strip()), b"")
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        header = next(exp.parse_lines([first]), None)
    except LedgerError:
        header = None
    if not isinstance(header, exp.Header):
        raise CliError(
            f"{path} is not a ballot-ledger export (its first line is not an export header); "
            "get one with `ballot export`"
        )
    return header


def _promises(paths: list[Path], election: str) -> list[Promise] | None:
    """The promises of the ``--receipts`` files, each of ``election`` (else exit 2)."""
    from counter.tally.audit import promises_from_json

    if not paths:
        return None
    promises: list[Promise] = []
    for path in paths:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            why = getattr(exc, "strerror", None) or exc
            raise CliError(f"--receipts {path}: cannot read a receipt: {why}") from exc
        try:
            found = promises_from_json(doc, source=str(path))
        except LedgerError as exc:
            raise CliError(f"--receipts {path}: {exc.message}") from exc
        for p in found:
            if p.election != election:
                raise CliError(
                    f"--receipts {path}: a receipt of election {p.election}, "
                    f"not of the export's {election}"
                )
        promises.extend(found)
    return promises


def run_audit(args: argparse.Namespace) -> int:
    from counter.tally.audit import audit  # the audit is the counter's fold, run offline

    args.key = pinned_keys(args.key, "--key")
    args.counter_key = pinned_keys(args.counter_key, "--counter-key")
    if args.url and args.file:
        raise CliError("give an export FILE or --url, not both")
    if args.url:
        if not args.election:
            raise CliError("--url needs --election")
        path = Path(f"{_election_id(args.election)}.export.ndjson")
        asyncio.run(download(args.url, args.election, path))
    elif args.file:
        path = args.file
    else:
        raise CliError("give an export FILE, or --url and --election")
    header = _require_export(path)
    if args.hashes_only:
        if args.receipts:
            raise CliError("--receipts needs the full audit (the events), not --hashes-only")
        return _audit_hashes(path, args)
    promises = _promises(args.receipts, header.election)
    with _progress() as bar:
        task = bar.add_task("auditing", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            report = audit(
                exp.parse_lines(_lines(path)),
                ledger_keys=args.key,
                counter_keys=args.counter_key,
                progress=progress,
                promises=promises,
            )
        except exp.ExportError as exc:
            raise CliError(str(exc)) from exc
    if args.json:
        out.print_json(json.dumps(report.to_json()))
    else:
        _print_audit(report.to_json())
    if not report.ok:
        return 1
    return 3 if report.broken else 0


def _audit_hashes(path: Path, args: argparse.Namespace) -> int:
    """``ballot audit --hashes-only``: :func:`ledger.format.verify.verify_export`, reported."""
    from ballot.verify import verify_export

    if args.jobs is not None and args.jobs < 1:
        raise CliError("--jobs must be at least 1")
    keyring = Keyring(Verifier.parse(k) for k in args.key) if args.key else None
    if keyring is None and not args.json:
        out.print(
            "[yellow]warning[/]: no --key given: checkpoints are checked with the keys "
            "the export's header names (what the server claims)"
        )
    started = time.perf_counter()
    with console.status("verifying hashes, chain links and checkpoints…"):
        try:
            verified = verify_export(path, keyring, args.jobs)
        except LedgerError as exc:
            failure = {"message": exc.message, **{k: str(v) for k, v in exc.evidence.items()}}
            if args.json:
                out.print_json(json.dumps({"ok": False, "failure": failure}))
            else:
                out.print(f"[red]hashes FAILED[/]: {exc}")
            return 1
    seconds = time.perf_counter() - started
    if args.json:
        report = {"ok": True, "seconds": round(seconds, 3), **dataclasses.asdict(verified)}
        out.print_json(json.dumps(report))
    else:
        out.print(
            f"[green]hashes verified[/]: election {verified.election}, {verified.entries:,} "
            f"entries, {verified.checkpoints:,} signed checkpoints, in {seconds:.2f} s on "
            f"{verified.jobs} processes ({verified.entries / max(seconds, 1e-9):,.0f} entries/s)"
        )
    return 0


def _print_audit(r: dict[str, Any]) -> None:
    for w in r["warnings"]:
        out.print(f"[yellow]warning[/]: {w}")
    if r["ok"]:
        out.print(
            f"[green]audit passed[/]: election {r['election']}, {r['entries']:,} entries, "
            f"{r['checkpoints']} checkpoints, root {r['root']}"
        )
    else:
        out.print(f"[red]audit FAILED[/]: {r['failure']['message']}")
        for k, v in r["failure"].items():
            if k != "message":
                out.print(f"  {k}: {v}")
    for contest, res in r["results"].items():
        if res.get("counted"):
            match = (
                "matches the declaration"
                if res.get("matches_declaration")
                else ("no declaration" if not res["declared"] else "")
            )
            if res.get("document_form"):
                match += f", declared in the document form {res['document_form']}"
            elected = ", ".join(res["elected"]) or "no one"
            if res.get("vacant"):
                elected += f" ({res['outcome']}: {res['vacant']} seat(s) vacant)"
            out.print(f"  {contest}: elected {elected} ({match})")
            if res.get("approved"):
                out.print(
                    f"    approved by the returning officer before its declaration "
                    f"(result {res['approved'][:16]}…)"
                )
            for ret in res.get("returned_unopposed", []):
                under = f" under the {ret['under']} requirement" if ret["under"] else ""
                out.print(f"    returned unopposed{under}: {ret['name']}")
            for note in res.get("notes", []):
                out.print(f"    {note}")
    if r["rounds"] is not None:
        k = r["round_size"]
        for contest, rounds in r["rounds"].items():
            out.print(
                f"  {contest}: {rounds['ballots']:,} ballot(s) in {rounds['rounds']:,} release "
                f"round(s), the smallest {rounds['smallest']:,} (round_size {k})"
            )
        for contest in r["below_round_size"]:
            out.print(
                f"  [yellow]{contest}[/]: eligible roll below round_size {k}: its ballots are "
                "protected only among themselves"
            )
    _print_promises(r["promises"])
    if r["entries_per_second"]:
        out.print(f"  {r['seconds']} s, {r['entries_per_second']:,} entries/s")


def _print_promises(p: dict[str, Any] | None) -> None:
    if p is None:
        return
    if not p["checked"]:
        out.print(f"  {p['given']} receipt(s) not checked: the log did not verify")
        return
    out.print(
        f"  receipts: {len(p['released'])} of {p['given']} released in the log, "
        f"{len(p['not_yet_released'])} accepted and not yet released (the poll is open)"
    )
    for b in p["broken"]:
        out.print(
            f"[red]BROKEN PROMISE[/]: the ballot of receipt {b['source']} (contest "
            f"{b['contest']}, event hash {b['event_hash']}) was accepted but not released "
            "before poll_closed"
        )


def _receipt_text(arg: str) -> str:
    """The receipt's text: standard input, a file, or the argument itself."""
    if arg == "-":
        return sys.stdin.read()
    path = Path(arg)
    if path.exists():
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"cannot read {arg}: {getattr(exc, 'strerror', None) or exc}") from exc
    return arg


def _json_or_base64_json(text: str) -> bool:
    """Whether ``text`` is meant as a receipt: JSON, or base64 that decodes to JSON."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return True
    try:
        return base64.b64decode(stripped, validate=True).lstrip().startswith(b"{")
    except ValueError:
        return False


def run_receipt_check(args: argparse.Namespace) -> int:
    text = _receipt_text(args.receipt)
    args.key = pinned_keys(args.key, "--key")
    inline = args.receipt != "-" and not Path(args.receipt).exists()
    try:
        receipts = receipt_check.parse_receipts(text)
    except LedgerError as exc:
        if inline and not _json_or_base64_json(text):
            # Neither a file nor a receipt: most likely a mistyped file name.
            raise CliError(
                f"no such file: {args.receipt} (nor is it a receipt's JSON or base64 JSON)"
            ) from exc
        if not _json_or_base64_json(text):
            # A file, or standard input, that holds no receipt at all: a wrong file, not a
            # failed check.
            raise CliError(
                f"{args.receipt} is not a receipt (neither a receipt's JSON nor base64 JSON)"
            ) from exc
        report = _report_failure("receipt check FAILED", exc, args.json)
        if args.json:
            out.print_json(json.dumps(report))
        return 1
    results: dict[str, dict[str, Any]] = {}
    worst = 0
    for contest, receipt in receipts:
        code, report = _check_one(args, receipt, contest, several=len(receipts) > 1)
        results[contest or receipt.code] = report
        worst = max(worst, code)
    if args.json:
        if len(results) == 1:
            out.print_json(json.dumps(next(iter(results.values()))))
        else:
            out.print_json(json.dumps({"ok": worst == 0, "receipts": results}))
    return worst


def _check_one(
    args: argparse.Namespace, receipt: receipt_check.AnyReceipt, contest: str | None, several: bool
) -> tuple[int, dict[str, Any]]:
    """Check one receipt; its exit code (0, 1 or 3) and its JSON report (printed unless
    ``--json``, which prints the reports together)."""
    label = f"receipt {receipt.code}" + (f" ({contest})" if contest else "")
    url = args.url.rstrip("/") if args.url else None
    try:
        if isinstance(receipt, AcceptanceReceipt):
            outcome = asyncio.run(
                receipt_check.check_acceptance(
                    receipt, url=url, state_path=args.state, keys=args.key, offline=args.offline
                )
            )
        else:
            outcome = asyncio.run(
                receipt_check.check(
                    receipt, url=url, state_path=args.state, keys=args.key, offline=args.offline
                )
            )
    except receipt_check.HistoryChanged as exc:
        return 1, _report_failure(f"{label}: HISTORY CHANGED (split view)", exc, args.json)
    except receipt_check.ServerError as exc:
        raise CliError(str(exc)) from exc
    except VerificationError as exc:
        return 1, _report_failure(f"{label}: receipt check FAILED", exc, args.json)
    except LedgerError as exc:
        raise CliError(str(exc)) from exc
    stage = "accepted" if isinstance(receipt, AcceptanceReceipt) else "receipt"
    report = {**outcome.to_json(), "code": receipt.code, "stage": stage}
    rc = 0
    if outcome.evidence is not None:
        path = args.evidence or Path(f"broken-promise-{receipt.code}.json")
        if several and contest:
            path = path.with_name(f"{path.stem}-{contest}{path.suffix}")
        try:
            path.write_text(json.dumps(outcome.evidence, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise CliError(f"cannot write the evidence to {path}: {exc.strerror}") from exc
        report["evidence_file"] = str(path)
        rc = 3
    if not args.json:
        for w in outcome.warnings:
            out.print(f"[yellow]warning[/]: {w}")
        for step in outcome.steps:
            out.print(f"[green]✓[/] {step}")
        if rc == 3:
            out.print(
                f"[red]BROKEN PROMISE[/]: {label}, accepted at {receipt.time}, is not in the log "
                f"before poll_closed; evidence written to {report['evidence_file']} (anyone can "
                "check it offline with `ballot receipt evidence FILE`)"
            )
        elif stage == "receipt":
            out.print(f"[green]{label} verified[/]")
        elif outcome.status == receipt_check.RELEASED:
            out.print(f"[green]{label}: {outcome.status}[/] (entry {outcome.index})")
        else:
            out.print(f"[green]{label}: {outcome.status}[/] (fine while the poll is open)")
    return rc, report


def run_receipt_evidence(args: argparse.Namespace) -> int:
    keys = pinned_keys(args.key, "--key")
    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {args.file}: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        verdict = Verdict(proven=False, reason=f"the file is not JSON: {exc}")
    else:
        keyring = Keyring(Verifier.parse(k) for k in keys) if keys else None
        verdict = check_evidence(data, keyring)
    if args.json:
        out.print_json(json.dumps({**verdict.to_json(), "keys_pinned": bool(keys)}))
        return 0 if verdict.proven else 1
    if not keys:
        out.print(
            "[yellow]warning[/]: checked with the keys the file names; give --key with the keys "
            "the ledger published to know the receipt and checkpoint are really its"
        )
    out.print(("[red]" if verdict.proven else "[yellow]") + f"{verdict.reason}[/]")
    for k, v in verdict.details.items():
        out.print(f"  {k}: {v}")
    return 0 if verdict.proven else 1


def _report_failure(title: str, exc: LedgerError, as_json: bool) -> dict[str, Any]:
    """Print a failed check (unless ``as_json``) and return its JSON report."""
    report = {
        "ok": False,
        "error": exc.message,
        "evidence": {k: str(v) for k, v in exc.evidence.items()},
    }
    if as_json:
        return report
    out.print(f"[red]{title}[/]: {exc.message}")
    for k, v in exc.evidence.items():
        out.print(f"  {k}: {v}")
    return report
