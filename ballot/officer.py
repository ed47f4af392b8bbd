"""`ballot election …`: the returning officer's commands, against a running ledger.

Each command makes the ledger's admin API calls (``docs/running-an-election.md`` walks through
an election with them) and prints what it did. The ledger is ``--url`` (default ``BALLOT_URL``,
else ``http://127.0.0.1:8080``); writes carry the admin token in ``BALLOT_ADMIN_TOKEN`` (one of
the ledger's ``BALLOT_ADMIN_TOKENS``). Every refusal (an RFC 9457 problem) is printed as a
plain message with a non-zero exit, and so is a ledger that cannot be reached.

"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ballot.api_client import TOKEN_VARIABLE, Client, Refused, error_lines
from ballot.officer_input import (
    ID,
    ID_RULE,
    InputError,
    check_definition,
    located_problems,
    read_document,
    read_nominations,
    read_text,
)
from ledger.errors import CliError

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_COUNTER_URL = "http://127.0.0.1:8090"


# --- the commands --------------------------------------------------------------------------------


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _entry(receipt: Mapping[str, Any]) -> str:
    return f"log entry {receipt['index']}, receipt {receipt['code']}"


def _path(eid: str, *rest: str) -> str:
    quoted = [urllib.parse.quote(p, safe="") for p in (eid, *rest)]
    return "/v1/elections/" + "/".join(quoted)


def election_id(text: str) -> str:
    """An election id argument (argparse refuses any other with a usage message)."""
    if not ID.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an election id: {ID_RULE}")
    return text


def _election(client: Client, eid: str) -> dict[str, Any]:
    body: dict[str, Any] = client.request("GET", _path(eid), auth=False).body
    return body


def cmd_create(client: Client, args: argparse.Namespace) -> int:
    located = read_document(args.file)
    eid = args.id or args.file.name.split(".")[0]
    if not ID.fullmatch(eid):
        raise CliError(f"the file's name {eid!r} is not an election id ({ID_RULE}): give --id")
    check_definition(located)
    doc = located.document
    if args.check:
        _out(f"{args.file.name}: a valid definition of {len(doc['contests'])} contest(s)")
        return 0
    try:
        answer = client.request("PUT", _path(eid), json_body=doc)
    except Refused as exc:
        if exc.slug in ("schema-violation", "invalid-definition"):
            lines = located_problems(located, str(exc.problem.get("detail", "")), exc.problem)
            raise InputError(["the ledger refused the definition:", *lines]) from exc
        raise
    verb = "created" if answer.status == 201 else "redefined"
    _out(f"election {eid} {verb} ({_entry(answer.body['receipt'])}): {doc['title']}")
    for c in doc["contests"]:
        method = c["method"]
        how = f"STV ({method['rule']})" if method["type"] == "stv" else "bloc vote"
        limit = "" if "eligibility" not in c else f"; who may vote: {json.dumps(c['eligibility'])}"
        _out(
            f"  {c['id']}: {c['title']}, {c['seats']} seat(s), {how}, "
            f"{len(c['candidates'])} candidate(s){limit}"
        )
    if doc.get("nomination_threshold", 0):
        _out(f"  a candidate needs {doc['nomination_threshold']} nominations to stand")
    return 0


def _upload_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".ndjson", ".jsonl"):
        return "application/x-ndjson"
    return "text/csv"


def cmd_roll(client: Client, args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        fh = path.open("rb")
    except FileNotFoundError as exc:
        raise CliError(f"no such file: {path}") from exc
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from exc
    with fh:
        try:
            answer = client.request(
                "PUT",
                _path(args.id, "roll"),
                data=fh,
                content_type=_upload_kind(path),
                length=os.fstat(fh.fileno()).st_size,
            )
        except Refused as exc:
            if exc.slug == "invalid-roll":
                raise CliError(roll_refusal(path.name, exc.problem)) from exc
            raise
    summary = answer.body["summary"]
    _out(
        f"roll of {args.id} published ({_entry(answer.body['receipt'])}): "
        f"{summary['voters']:,} voter(s)"
    )
    for contest, info in summary["contests"].items():
        _out(f"  {contest}: {info['eligible']:,} eligible")
    return 0


def roll_refusal(name: str, problem: Mapping[str, Any]) -> str:
    """The ledger's refusal of a roll, placed in the file: ``roll.csv line 5, column 3 (age):
    a cell is not an integer …``."""
    where = name
    if "line" in problem:
        where += f" line {problem['line']}"
    elif "row" in problem:
        where += f" row {problem['row']}"
    if "column_number" in problem:
        where += f", column {problem['column_number']}"
        if "column" in problem:
            where += f" ({problem['column']})"
    elif "column" in problem:
        where += f", column {problem['column']}"
    return f"{where}: {problem.get('detail', 'refused')}" + error_lines(problem)


_RERUN = (
    "The rows after it were not sent. Run the command again: nominations already recorded "
    "are reported as such, never counted twice"
)


def cmd_nominations(client: Client, args: argparse.Namespace) -> int:
    path: Path = args.file
    returns = read_nominations(read_text(path), path.name)
    if returns.ignored_columns:
        _out(f"{path.name}: ignoring the column(s) {', '.join(returns.ignored_columns)}")
    counts = {"recorded": 0, "already recorded": 0, "refused": 0}
    for row in returns.rows:
        what = f"{row.body} nominates {row.candidate} in {row.contest}"
        try:
            answer = client.request("POST", _path(args.id, "nominations"), json_body=row.request())
        except Refused as exc:
            if exc.slug == "duplicate-nomination":
                counts["already recorded"] += 1
                _out(f"line {row.line}: already recorded: {what}")
                continue
            if (
                exc.status in (401, 403)
                or exc.status >= 500
                or exc.slug
                in (
                    "not-found",
                    "wrong-phase",
                )
            ):
                _summary(counts)
                raise CliError(f"line {row.line}: {exc}; stopped. {_RERUN}") from exc
            counts["refused"] += 1
            _out(f"line {row.line}: REFUSED: {what}: {exc.short()}")
            continue
        except CliError as exc:
            _summary(counts)
            raise CliError(f"line {row.line}: {exc}; stopped. {_RERUN}") from exc
        counts["recorded"] += 1
        _out(f"line {row.line}: recorded: {what} ({_entry(answer.body['receipt'])})")
    _summary(counts)
    return 1 if counts["refused"] else 0


def _summary(counts: Mapping[str, int]) -> None:
    _out(", ".join(f"{n} {what}" for what, n in counts.items()))


def _phase(path: str, done: str) -> Callable[[Client, argparse.Namespace], int]:
    def command(client: Client, args: argparse.Namespace) -> int:
        answer = client.request("POST", _path(args.id, *path.split("/")))
        _out(f"{args.id}: {done} ({_entry(answer.body['receipt'])})")
        if path == "nominations/close":
            _print_standing(_election(client, args.id))
        return 0

    return command


def _print_standing(info: Mapping[str, Any]) -> None:
    names = {
        c["id"]: {k["id"]: k["name"] for k in c["candidates"]}
        for c in info["definition"]["contests"]
    }
    threshold = info["definition"].get("nomination_threshold", 0)
    for contest, standing in (info.get("standing") or {}).items():
        counts = info.get("nominations", {}).get(contest, {})
        _out(f"  {contest}: {len(standing)} standing")
        for cid, name in names.get(contest, {}).items():
            n = counts.get(cid, 0)
            mark = "standing" if cid in standing else f"not standing (needs {threshold})"
            _out(f"    {name} ({cid}): {n} nomination(s), {mark}")


CLOSE_TIMEOUT = 3600.0
"""Seconds the close may take: it opens every sealed ballot before it answers (a million in
about 80 s on the benchmark machine)."""


def cmd_close(client: Client, args: argparse.Namespace) -> int:
    waiting = _pending(client, args.id)
    try:
        answer = client.request("POST", _path(args.id, "poll", "close"), timeout=CLOSE_TIMEOUT)
    except Refused:
        raise
    except CliError as exc:
        raise CliError(
            f"{exc}. The close goes on in the ledger if it started: run the command again "
            "(it is safe) to see it finish"
        ) from exc
    body = answer.body
    _out(f"{args.id}: poll closed; {body.get('opened', 0):,} sealed ballot(s) opened")
    if waiting is not None:
        released = sum(int(n) for n in (waiting.get("pending") or {}).values())
        _out(
            f"  {released:,} accepted ballot(s) were waiting just before the close; the close "
            "released them to the public log"
        )
    _out(f"  the log has {body.get('size', 0):,} entries; the counter counts from here")
    return 0


def cmd_withdraw(client: Client, args: argparse.Namespace) -> int:
    body: dict[str, str] = {"reason": args.reason}
    if args.note:
        body["note"] = args.note
    path = _path(args.id, "contests", args.contest, "candidates", args.candidate, "withdraw")
    answer = client.request("POST", path, json_body=body)
    _out(
        f"{args.id}: {args.candidate} {args.reason} from {args.contest} "
        f"({_entry(answer.body['receipt'])})"
    )
    return 0


def cmd_declare(client: Client, args: argparse.Namespace) -> int:
    info = _election(client, args.id)
    contests = [c["id"] for c in info["definition"]["contests"]]
    if args.contest not in contests:
        raise CliError(f"{args.id} has no contest {args.contest!r} (it has {', '.join(contests)})")
    path = _path(args.id, "contests", args.contest, "declare")
    deadline = time.monotonic() + args.wait
    while True:
        try:
            answer = client.request("POST", path)
            break
        except Refused as exc:
            waiting = exc.status == 409 and str(exc.problem.get("type", "")).endswith(
                "result-not-counted"
            )
            if not waiting or time.monotonic() >= deadline:
                raise
            time.sleep(0.5)  # the counter has not counted it yet
    body = answer.body if isinstance(answer.body, dict) else {}
    receipt = body.get("receipt")
    done = f" ({_entry(receipt)})" if isinstance(receipt, dict) else ""
    _out(f"{args.id}: result of {args.contest} declared{done}")
    elected = body.get("elected")
    if isinstance(elected, list):
        _out(f"  elected: {', '.join(map(str, elected)) or 'nobody'}")
    return 0


# --- status --------------------------------------------------------------------------------------


PHASES = {
    "setup": "setup (define the election, publish the roll)",
    "nominations": "nominations open",
    "ready": "ready (nominations closed; the poll can open)",
    "poll_open": "poll open",
    "poll_closed": "poll closed",
    "declared": "declared (every result)",
}


def _share(n: int, of: int) -> str:
    return f"{n:,} of {of:,} ({n / of:.1%})" if of else f"{n:,} of 0"


def status_lines(
    info: Mapping[str, Any],
    turnout: Mapping[str, Any] | None,
    counted: Mapping[str, Any] | None,
    counter_note: str | None = None,
    pending: Mapping[str, Any] | None = None,
) -> list[str]:
    """What ``status`` prints, from the ledger's public election and turnout, its private
    pending counts (the officer's token; ``None``: not asked) and the counter's results."""
    d = info["definition"]
    contests = [c["id"] for c in d["contests"]]
    lines = [
        f"election {info['election']}: {d['title']}",
        f"  phase: {PHASES.get(info['phase'], info['phase'])}; "
        f"the public log has {info['size']:,} entries",
    ]
    if turnout is not None:
        when = turnout.get("time")
        head = (
            f"  turnout (published report of {when}, log entry {turnout.get('index')}):"
            if when
            else "  turnout (no report published yet):"
        )
        lines.append(head)
        for cid, c in turnout.get("contests", {}).items():
            lines.append(f"    {cid}: {_share(c.get('cast', 0), c.get('eligible', 0))} have voted")
    if pending is not None:
        counts = {str(c): int(n) for c, n in (pending.get("pending") or {}).items()}
        total = sum(counts.values())
        each = ", ".join(f"{c} {n:,}" for c, n in counts.items())
        lines.append(
            f"  waiting to be released to the public log: {total:,} accepted ballot(s)"
            + (f" ({each})" if total else "")
        )
        if total and info["phase"] == "poll_open":
            lines.append(
                f"    released in rounds of at least {pending.get('round_size', '?')} per "
                "contest while the poll is open; the rest at the close"
            )
    elif info["phase"] == "poll_open":
        lines.append(f"  waiting to be released: known to the officer only (set {TOKEN_VARIABLE})")
    if info["phase"] in ("poll_closed", "declared"):
        unopened = int(info.get("unopened") or 0)
        if unopened:
            lines.append(f"  waiting to be opened: {unopened:,} sealed ballot(s)")
    declared = info.get("declared") or {}
    withdrawn = {c: w for c, w in (info.get("withdrawn") or {}).items() if w}
    for c, w in withdrawn.items():
        lines.append(f"  withdrawn from {c}: {', '.join(w)}")
    if counted is None:
        if counter_note:
            lines.append(f"  counter: {counter_note}")
        return lines
    follow = counted.get("follow") or {}
    if follow:
        state = str(follow.get("status", "?")).replace("_", " ")
        read = f"has verified {follow.get('size', 0):,} of the log's entries"
        lag = follow.get("lag_entries")
        behind = f", {lag:,} to go" if isinstance(lag, int) and lag else ""
        reason = f": {follow['reason']}" if follow.get("reason") else ""
        lines.append(f"  counter: {state}{reason}; {read}{behind}")
    results = {r["contest"]: r for r in counted.get("results", [])}
    lines.append("  count:")
    for cid in contests:
        r = results.get(cid)
        if r is None:
            why = (
                "not counted yet (waits for the close and the opening of every sealed ballot)"
                if info["phase"] not in ("poll_closed", "declared")
                else "waiting to be counted"
            )
            lines.append(f"    {cid}: {why}")
            continue
        doc = r.get("result") or {}
        elected = ", ".join(doc.get("elected", [])) or "nobody"
        if cid in declared or r.get("declared"):
            state = "declared"
            if r.get("declared_index") is not None:
                state += f" (log entry {r['declared_index']})"
        else:
            state = "counted, not declared yet"
        valid = doc.get("valid_ballots")
        ballots = f", {valid:,} valid ballot(s)" if isinstance(valid, int) else ""
        lines.append(f"    {cid}: {state}{ballots}; elected: {elected}")
    return lines


def _counted(args: argparse.Namespace, eid: str) -> tuple[dict[str, Any] | None, str | None, bool]:
    """The counter's results and how far it has followed the log (``follow``), or why there
    are none, and whether that is a failure."""
    if args.no_counter:
        return None, None, False
    counter = Client(args.counter_url, name="counter")
    try:
        listing = counter.request("GET", "/v1/elections", auth=False, ok=(200,)).body
        rows = [e for e in listing.get("elections", []) if e.get("election") == eid]
        if not rows:
            return None, f"{args.counter_url} does not follow {eid} (yet)", False
        body: dict[str, Any] = counter.request(
            "GET", _path(eid, "results"), auth=False, ok=(200,)
        ).body
        return {**body, "follow": rows[0]}, None, False
    except Refused as exc:
        if exc.status == 404:
            return None, f"{args.counter_url} does not follow {eid} (yet)", False
        return None, str(exc), True
    except CliError as exc:
        return None, f"{exc} (--no-counter to ask the ledger only)", True
    finally:
        counter.close()


def _pending(client: Client, eid: str) -> dict[str, Any] | None:
    """The accepted ballots waiting to be released (private: needs the admin token); ``None``
    without a token or from a ledger that does not say."""
    if not client.token:
        return None
    try:
        body: dict[str, Any] = client.request("GET", _path(eid, "pending"), ok=(200,)).body
        return body
    except Refused as exc:
        if exc.status in (404, 405) and exc.problem.get("detail") in (None, "Not Found"):
            return None
        raise


def cmd_status(client: Client, args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.wait if args.wait else None
    while True:
        info = _election(client, args.id)
        turnout = client.request("GET", _path(args.id, "turnout"), auth=False, ok=(200,)).body
        pending = _pending(client, args.id)
        counted, note, failed = _counted(args, args.id)
        if deadline is None or _all_declared(info, counted) or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    for line in status_lines(info, turnout, counted, note, pending):
        _out(line)
    if failed:
        return 1
    if deadline is not None and not _all_declared(info, counted):
        raise CliError(f"not every result of {args.id} was declared within {args.wait:g} s")
    return 0


def _all_declared(info: Mapping[str, Any], counted: Mapping[str, Any] | None) -> bool:
    if counted is None:
        return False
    results = {r["contest"]: r for r in counted.get("results", [])}
    return all(
        c["id"] in results and results[c["id"]].get("declared")
        for c in info["definition"]["contests"]
    )


# --- registration ----------------------------------------------------------------------------


Command = Callable[[Client, argparse.Namespace], int]


def _run(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        client = Client(args.url, os.environ.get(TOKEN_VARIABLE) or None)
        try:
            return command(client, args)
        finally:
            client.close()

    return run


def add_parser(sub: Any) -> None:
    p = sub.add_parser("election", help="the returning officer's commands (create, roll, open, …)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=os.environ.get("BALLOT_URL") or DEFAULT_URL,
        help=f"the ledger's base URL (default: $BALLOT_URL, else {DEFAULT_URL})",
    )
    esub = p.add_subparsers(dest="election_command", required=True, metavar="CMD")

    def command(name: str, help_: str, func: Command) -> argparse.ArgumentParser:
        c: argparse.ArgumentParser = esub.add_parser(
            name, help=help_, parents=[common], description=help_
        )
        c.set_defaults(func=_run(func))
        return c

    c = command("create", "define an election from a YAML or JSON file", cmd_create)
    c.add_argument("file", type=Path, help="the definition (.yaml, .yml or .json)")
    c.add_argument("--id", type=election_id, help="the election's id (default: the file's name)")
    c.add_argument("--check", action="store_true", help="check the file only; send nothing")

    r = command("roll", "publish the voter roll (CSV: voter_id and attributes)", cmd_roll)
    r.add_argument("id", type=election_id)
    r.add_argument("file", type=Path, help="the roll (.csv, or .ndjson rows)")

    n = command(
        "nominations",
        "record the branches' nominations from a CSV file (contest,candidate,body)",
        cmd_nominations,
    )
    n.add_argument("id", type=election_id)
    n.add_argument("file", type=Path)

    for name, path, done, help_ in (
        ("open-nominations", "nominations/open", "nominations opened", "open nominations"),
        (
            "close-nominations",
            "nominations/close",
            "nominations closed",
            "close nominations (who stands is fixed)",
        ),
        ("open", "poll/open", "poll opened", "open the poll"),
    ):
        command(name, help_, _phase(path, done)).add_argument("id", type=election_id)
    command("close", "close the poll (sealed ballots are then opened)", cmd_close).add_argument(
        "id", type=election_id
    )

    w = command("withdraw", "withdraw (or disqualify) a candidate", cmd_withdraw)
    w.add_argument("id", type=election_id)
    w.add_argument("contest")
    w.add_argument("candidate")
    w.add_argument("--reason", choices=("withdrawn", "disqualified"), default="withdrawn")
    w.add_argument("--note", help="a public note, e.g. why")

    d = command(
        "declare", "approve a contest's counted (provisional) result: it is declared", cmd_declare
    )
    d.add_argument("id", type=election_id)
    d.add_argument("contest")
    d.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to SECONDS for the counter's provisional result (just after the close)",
    )

    s = command(
        "status", "phase, turnout, what waits to be released, counted, declared", cmd_status
    )
    s.add_argument("id", type=election_id)
    s.add_argument(
        "--counter-url",
        default=os.environ.get("BALLOT_COUNTER_URL") or DEFAULT_COUNTER_URL,
        help=f"the counter's base URL (default: $BALLOT_COUNTER_URL, else {DEFAULT_COUNTER_URL})",
    )
    s.add_argument("--no-counter", action="store_true", help="ask the ledger only")
    s.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="wait up to SECONDS until every contest's result is declared",
    )
