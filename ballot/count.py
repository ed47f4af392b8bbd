"""`ballot count`, `ballot counter serve` and `ballot bench count`."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from counter.errors import CandidatesFileError, ConstraintError, CounterError
from counter.rules.model import Candidate, Constraint, Profile

if TYPE_CHECKING:
    from counter.rules.packed import PackedProfile


class _Refused(Exception):
    """A command-line input the counter refuses; the message says why."""


def _cli_error(message: str) -> Exception:
    return _Refused(message)


def add_parsers(sub: Any, bench_sub: Any) -> None:
    """Register the counter's subcommands on the top-level and `bench` sub-parsers."""
    add_service_parser(sub)
    add_count_parser(sub)
    add_bench_parser(bench_sub)


def add_service_parser(sub: Any) -> None:
    """`ballot counter serve` (imports the service: aiohttp, asyncpg)."""
    from counter.http import serve

    counter = sub.add_parser("counter", help="the counter service")
    counter_sub = counter.add_subparsers(dest="counter_command", required=True, metavar="CMD")
    serve.add_parser(counter_sub)


def add_count_parser(sub: Any) -> None:
    """`ballot count` (imports only the pure counter)."""
    p = sub.add_parser(
        "count",
        help="count a BLT ballot file by a named rule",
        description="Count FILE.blt exactly by a counting rule and print the round-by-round "
        "report (a table, or JSON with --json).",
    )
    p.add_argument("file", metavar="FILE.blt", help="ballots in BLT format")
    p.add_argument(
        "--rule",
        required=True,
        metavar="NAME",
        help="scottish, ers97, meek, exact-droop, bloc, or custom:key=value,...",
    )
    p.add_argument("--seats", type=int, help="seats to fill (default: the BLT's)")
    p.add_argument(
        "--candidates", metavar="FILE.csv", help="candidate attributes: name,gender,slate"
    )
    p.add_argument(
        "--min",
        action="append",
        default=[],
        metavar="ATTR=VALUE:K",
        help="at least K seats to candidates with ATTR=VALUE (repeatable)",
    )
    p.add_argument("--seed", metavar="HEX", help="lot seed (default: SHA-256 of the profile)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_count)


def add_bench_parser(bench_sub: Any) -> None:
    """`ballot bench count`."""
    b = bench_sub.add_parser(
        "count",
        help="time the counting rules on a seeded 1M-ballot profile and the Scottish wards",
    )
    b.add_argument("--ballots", type=int, default=1_000_000)
    b.add_argument("--candidates", type=int, default=15)
    b.add_argument("--seats", type=int, default=9)
    b.add_argument("--seed", type=int, default=2017)
    b.add_argument(
        "--pyrankvote-ballots",
        type=int,
        default=None,
        help="measure pyrankvote on this many ballots (default: all, unless too slow)",
    )
    b.add_argument("--pyrankvote-budget", type=float, default=180.0, metavar="SECONDS")
    b.add_argument("--scotland", default=None, metavar="DIR", help="the scotland_2017 folder")
    b.set_defaults(func=run_bench)


def parse_min(text: str) -> Constraint:
    """``ATTR=VALUE:K`` -> a :class:`Constraint`."""
    head, sep, k = text.rpartition(":")
    attr, eq, value = head.partition("=")
    if not sep or not eq or not attr or not value:
        raise ConstraintError(f"--min {text!r}: expected ATTR=VALUE:K, e.g. gender=F:2")
    try:
        minimum = int(k)
    except ValueError:
        raise ConstraintError(f"--min {text!r}: K must be a whole number") from None
    return Constraint(attribute=attr.strip(), value=value.strip(), minimum=minimum)


def candidate_attributes(candidates: tuple[Candidate, ...], text: str) -> tuple[Candidate, ...]:
    """The candidates with gender and slate from CSV (header ``name,gender,slate``) by name."""
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or "name" not in reader.fieldnames:
        raise CandidatesFileError("the candidates file needs a header with a 'name' column")
    by_name = {c.name: i for i, c in enumerate(candidates)}
    updated: list[Candidate] = list(candidates)
    for row in reader:
        name = (row.get("name") or "").strip()
        if name not in by_name:
            raise CandidatesFileError(f"candidate {name!r} is not in the ballot file")
        i = by_name[name]
        updated[i] = dataclasses.replace(
            updated[i],
            gender=(row.get("gender") or "").strip() or None,
            slate=(row.get("slate") or "").strip() or None,
        )
    return tuple(updated)


def _check_attributes(
    profile: Profile | PackedProfile, constraints: Sequence[Constraint], *, given: bool
) -> None:
    """Refuse a minimum on an attribute no candidate has: the attributes are missing, which
    is not the same as too few seats (gender and slate come only from --candidates)."""
    for con in constraints:
        if any(c.attribute(con.attribute) is not None for c in profile.candidates):
            continue
        if con.attribute not in ("gender", "slate"):
            raise _cli_error(
                f"--min {con.label()}: candidates have no attribute {con.attribute!r} "
                "(known: gender, slate, name, id)"
            )
        where = "the candidates file gives" if given else "no --candidates file gives"
        raise _cli_error(
            f"--min {con.label()}: {where} any candidate a {con.attribute}: pass "
            f"--candidates FILE.csv with a '{con.attribute}' column"
        )


def _read_utf8(path: str) -> tuple[bytes, str]:
    """The bytes of the file at ``path`` and their UTF-8 text, or a clear refusal."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise _cli_error(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return data, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _cli_error(
            f"{path}: expected UTF-8 text, found byte 0x{data[exc.start]:02X} at offset {exc.start}"
        ) from None


def run_count(args: argparse.Namespace) -> int:
    from counter.ballots import blt
    from counter.rules import count, count_packed, packs, report, resolve

    try:
        data, text = _read_utf8(args.file)
        rule = resolve(args.rule)  # how the rule reads '=', '-' and fractional weights
        reading = blt.Reading(rule=rule.name, marks=rule.marks, fractions=rule.fractions)
        # A large file for a rule that counts packed arrays (scottish): read into
        # arrays, never into a tuple per ranking (counter.rules.packed); the same result.
        packed: PackedProfile | None = None
        if not args.min and len(text) >= blt.FAST_FROM and packs(args.rule):
            packed = blt.parse_packed(text, reading, data=data)
        profile: Profile | PackedProfile = (
            packed if packed is not None else blt.parse(text, reading)
        )
        if args.candidates:
            _, csv_text = _read_utf8(args.candidates)
            try:
                attributes = candidate_attributes(profile.candidates, csv_text)
            except csv.Error as exc:
                raise _cli_error(
                    f"{args.candidates}: the candidates file cannot be read as CSV: {exc}"
                ) from None
            profile = dataclasses.replace(profile, candidates=attributes)
        constraints: Sequence[Constraint] = [parse_min(m) for m in args.min]
        seed: bytes | None = None
        if args.seed is not None:
            try:
                seed = bytes.fromhex(args.seed)
            except ValueError:
                raise _cli_error(f"--seed {args.seed!r} is not hexadecimal") from None
        if args.seats is not None and args.seats < 1:
            raise _cli_error("--seats must be at least 1")
        _check_attributes(profile, constraints, given=bool(args.candidates))
        seats = args.seats if args.seats is not None else profile.seats
        standing = sum(1 for c in profile.candidates if not c.withdrawn)
        if seats is not None and seats > standing:
            sys.stderr.write(
                f"ballot count: warning: {seats} seats but {standing} candidate(s) standing: "
                f"at most {standing} can be elected, the rest stay vacant\n"
            )
        if isinstance(profile, Profile):
            result = count(profile, args.rule, args.seats, constraints, seed)
        else:
            result = count_packed(profile, args.rule, args.seats, constraints, seed)
    except CounterError as exc:
        sys.stderr.write(f"ballot count: {args.file}: {exc}\n")
        return 2
    except _Refused as exc:
        sys.stderr.write(f"ballot count: {exc}\n")
        return 2
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(result), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(report.render_table(result))
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from ballot.bench import count as bench_count

    return bench_count.main(args)
