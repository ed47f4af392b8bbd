"""`ballot bench count`: how fast the exact counter is, beside pyrankvote.

1. A seeded profile (default 1,000,000 ballots, 15 candidates in five parties of
   three, 9 seats; see :func:`generate`) is grouped (identical rankings summed;
   timed apart) and counted by ``scottish`` and ``meek``; each of our timings is
   the median of three runs.
2. pyrankvote's ``single_transferable_vote`` counts the same ballots in the same
   run.  If a calibration run on 10,000 ballots predicts that the whole profile
   would take longer than ``--pyrankvote-budget`` seconds, it is measured on the
   largest of 100,000 / 10,000 ballots that fits the budget and its time is
   extrapolated linearly to the full profile (its cost per round is linear in the
   ballots); the output says which.
3. Speed-ups.  The issue's target, at least 20x pyrankvote "on the 1M profile",
   is judged on the count: each tool is handed the same ballots already built in
   its own form (pyrankvote a million ``Ballot`` objects, built outside its timer;
   ours the profile, whose count "depends on distinct rankings, not raw
   ballots").  Beside it, end to end with the input building timed on *both*
   sides: pyrankvote's ``Ballot`` objects + its count, against our grouping of
   the raw ``(ranking, 1)`` pairs + count, and against ``blt.parse`` of the
   profile as a one-line-per-paper BLT text (12 MB) + count.
4. All 300 Scottish wards of ``scotland_2017``, read from BLT and counted by
   ``scottish``, end to end.
5. The closing note: whole processes from a BLT file, for both profiles, the
   party profile above and a high-entropy one (:func:`high_entropy`: random
   ranking lengths, about half the papers distinct, as in large real STV
   elections).  Each profile is written as a one-line-per-paper BLT;
   ``ballot count FILE --rule scottish --json`` runs as a subprocess (median of
   three), beside a subprocess that reads the same file into pyrankvote and
   counts it (once); ours reads the file into arrays and counts there
   (:mod:`counter.rules.packed`), timed in-process above too.  Our packages are
   byte-compiled first, as installing them does (pyrankvote's were, by pip).  Wall time and CPU
   time (user + system, which a busy machine disturbs less) of each, and the
   ratios, are printed; our JSON must equal the in-process count of the same
   ballots.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from counter.ballots import blt
from counter.ballots.profile import group
from counter.rules import count, count_packed, report
from counter.rules.model import Candidate, Profile, Ranking

PARTY_SHARE = (30, 25, 20, 15, 10)
TARGET = 20.0  # the issue: at least 20x faster than pyrankvote on the 1M profile
REPEAT = 3  # our timings are the median of this many runs; pyrankvote runs once


def generate(n_ballots: int, n_candidates: int, seed: int) -> list[tuple[Ranking, int]]:
    """A seeded, party-structured profile of ``n_ballots`` single ballots.

    Candidates are dealt round-robin into five parties.  A voter picks a party
    (shares 30/25/20/15/10), ranks its candidates (the party's favourite first
    with probability 0.6), then, with probability 0.55 after each further
    preference, goes on to a candidate of another party drawn with weight
    proportional to party share; about a third of the ballots stop after the
    party's candidates.
    """
    rnd = random.Random(seed)
    parties: list[list[int]] = [[] for _ in PARTY_SHARE]
    for c in range(n_candidates):
        parties[c % len(PARTY_SHARE)].append(c)
    party_of = {c: p for p, members in enumerate(parties) for c in members}
    weights = [PARTY_SHARE[party_of[c]] for c in range(n_candidates)]
    out: list[tuple[Ranking, int]] = []
    choices = rnd.choices
    random_ = rnd.random
    party_ids = list(range(len(PARTY_SHARE)))
    for _ in range(n_ballots):
        p = choices(party_ids, PARTY_SHARE)[0]
        members = parties[p][:]
        if random_() >= 0.6:
            rnd.shuffle(members)
        ranking = members[: 1 + int(random_() * len(members))] if random_() < 0.3 else members
        if random_() < 0.66:
            rest = [c for c in range(n_candidates) if c not in ranking]
            rest_w = [weights[c] for c in rest]
            while rest and random_() < 0.55:
                pick = choices(range(len(rest)), rest_w)[0]
                ranking = [*ranking, rest.pop(pick)]
                rest_w.pop(pick)
        out.append((tuple(ranking), 1))
    return out


def high_entropy(n_ballots: int, n_candidates: int, seed: int) -> list[tuple[Ranking, int]]:
    """A seeded profile where most papers are distinct, as in large real STV elections.

    Each voter ranks a random number of candidates (uniform in ``1..13``, or all
    when fewer stand), drawn in a Plackett-Luce order: candidate ``i`` has
    popularity ``1 / (i + 1) ** 2.5``, and each next preference is drawn among
    those left in proportion to popularity (exponential clocks: the order of
    ``expovariate(weight)`` draws).  With 1,000,000 ballots and 15 candidates
    about 497,000 rankings are distinct and the one-line-per-paper BLT is 19 MB.
    """
    rnd = random.Random(seed)
    weights = [1.0 / (i + 1) ** 2.5 for i in range(n_candidates)]
    clocks = [(c, w) for c, w in enumerate(weights)]
    longest = min(13, n_candidates)
    expo, randint = rnd.expovariate, rnd.randint
    out: list[tuple[Ranking, int]] = []
    for _ in range(n_ballots):
        length = randint(1, longest)
        order = sorted(clocks, key=lambda cw: expo(cw[1]))
        out.append((tuple(c for c, _ in order[:length]), 1))
    return out


# pyrankvote's whole process: read a one-line-per-paper BLT, build its Ballot
# objects, count, print the winners as JSON.  Self-contained, so that its
# process imports only pyrankvote.
PYRANKVOTE_SCRIPT = """
import json, sys
import pyrankvote
with open(sys.argv[1], encoding="utf-8") as f:
    lines = f.read().splitlines()
n, seats = map(int, lines[0].split()[:2])
i, rows = 1, []
while lines[i].strip() != "0":
    rows.append([int(t) for t in lines[i].split()])
    i += 1
names = [s.strip().strip('"') for s in lines[i + 1 : i + 1 + n]]
cands = [pyrankvote.Candidate(name) for name in names]
ballots = []
for row in rows:
    prefs = row[1:-1] if row[-1] == 0 else row[1:]
    ballots.extend([pyrankvote.Ballot(ranked_candidates=[cands[p - 1] for p in prefs])] * row[0])
result = pyrankvote.single_transferable_vote(cands, ballots, number_of_seats=seats)
print(json.dumps([c.name for c in result.get_winners()]))
"""


def _process(argv: list[str], timeout: float) -> tuple[float, float, str]:
    """Run ``argv``: (wall seconds, CPU seconds user + system, standard output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"bench count: {argv[:3]} failed: {done.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def whole_process(
    label: str,
    raw: list[tuple[Ranking, int]],
    names: list[str],
    seats: int,
    repeat: int,
    budget: float,
) -> dict[str, Any]:
    """Time ``ballot count FILE --rule scottish --json`` and pyrankvote on one BLT file."""
    text = blt_text(raw, names, seats)
    grouped = group(raw, len(names))
    cands = tuple(Candidate(id=str(i + 1), name=nm) for i, nm in enumerate(names))
    profile = Profile(candidates=cands, ballots=grouped, seats=seats, title="bench", grouped=True)
    expected = json.loads(json.dumps(report.to_json(count(profile, "scottish"))))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{label}.blt"
        path.write_text(text, encoding="utf-8")
        ours = [sys.executable, "-m", "ballot.cli", "count", str(path), "--rule", "scottish"]
        runs = [_process([*ours, "--json"], budget) for _ in range(repeat)]
        printed = json.loads(runs[-1][2])
        if printed != expected:
            raise SystemExit(f"bench count: {label}: the process's count differs from in-process")
        py_wall, py_cpu, py_out = _process(
            [sys.executable, "-c", PYRANKVOTE_SCRIPT, str(path)], budget
        )
    return {
        "label": label,
        "ballots": len(raw),
        "distinct": len(grouped),
        "mb": len(text) / 1e6,
        "wall": statistics.median(r[0] for r in runs),
        "cpu": statistics.median(r[1] for r in runs),
        "py_wall": py_wall,
        "py_cpu": py_cpu,
        "same_winners": set(json.loads(py_out)) == set(expected["elected"]),
    }


def closing_note(rows: list[dict[str, Any]], repeat: int) -> str:
    """Both profiles: our whole process and pyrankvote's, wall and CPU, and the ratios."""
    out = [
        "  closing note: whole processes from the same one-line-per-paper BLT file:\n"
        f"  `ballot count FILE --rule scottish --json` (median of {repeat}) beside pyrankvote "
        "(read + Ballot objects + count, once)\n",
        f"    {'profile':13s} {'ballots':>9s} {'distinct':>8s} {'BLT':>7s}  "
        f"{'ours wall/cpu s':>15s}  {'pyrankvote wall/cpu s':>21s}  {'x wall':>6s} {'x cpu':>6s}"
        f"  vs target {TARGET:g}x\n",
    ]
    for r in rows:
        x_wall, x_cpu = r["py_wall"] / r["wall"], r["py_cpu"] / r["cpu"]
        verdict = "meets" if min(x_wall, x_cpu) >= TARGET else "MISSES"
        out.append(
            f"    {r['label']:13s} {r['ballots']:9,d} {r['distinct']:8,d} {r['mb']:5.1f}MB  "
            f"{r['wall']:7.2f}/{r['cpu']:5.2f}    {r['py_wall']:10.2f}/{r['py_cpu']:6.2f}    "
            f"  {x_wall:6.1f} {x_cpu:6.1f}  {verdict}; winners "
            f"{'same' if r['same_winners'] else 'differ (pyrankvote is not the Scottish rule)'}\n"
        )
    return "".join(out)


def _median(repeat: int, fn: Any) -> tuple[float, Any]:
    """The median wall time of ``repeat`` runs of ``fn`` (and its last value)."""
    times = []
    value = None
    for _ in range(repeat):
        secs, value = _time(fn)
        times.append(secs)
    return statistics.median(times), value


def _time(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def _pyrankvote(
    names: list[str], ballots: list[tuple[Ranking, int]], seats: int
) -> tuple[float, float, set[str]]:
    """pyrankvote's count of ``ballots``: (build seconds, count seconds, winners)."""
    import pyrankvote

    cands = [pyrankvote.Candidate(n) for n in names]
    t0 = time.perf_counter()
    objs = [pyrankvote.Ballot(ranked_candidates=[cands[c] for c in r]) for r, _ in ballots]
    t1 = time.perf_counter()
    result = pyrankvote.single_transferable_vote(cands, objs, number_of_seats=seats)
    elapsed = time.perf_counter() - t1
    return t1 - t0, elapsed, {c.name for c in result.get_winners()}


def blt_text(raw: list[tuple[Ranking, int]], names: list[str], seats: int) -> str:
    """The ballots as a BLT file of one line per paper, as an export would list them."""
    lines = [f"{len(names)} {seats}"]
    lines.extend(" ".join([str(w), *(str(c + 1) for c in r), "0"]) for r, w in raw)
    lines.append("0")
    lines.extend(f'"{n}"' for n in names)
    lines.append('"bench"')
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> int:
    say = sys.stdout.write
    n, k, seats = args.ballots, args.candidates, args.seats
    say(f"ballot bench count: {n:,} ballots, {k} candidates, {seats} seats, seed {args.seed}\n")
    gen_s, raw = _time(lambda: generate(n, k, args.seed))
    gc.collect()
    gc.freeze()  # the million generated ballots are long-lived: keep the collector off them
    names = [f"Candidate {chr(65 + i)}" for i in range(k)]
    distinct = len(group(raw))
    say(f"  generated in {gen_s:.1f} s; {distinct:,} distinct rankings\n")
    cands = tuple(Candidate(id=str(i + 1), name=nm) for i, nm in enumerate(names))
    repeat = max(1, getattr(args, "repeat", REPEAT))
    group_s, grouped_ballots = _median(repeat, lambda: group(raw, k))
    say(
        f"  grouping the raw pairs: {group_s:.3f} s "
        f"(median of {repeat}; {n:,} (ranking, 1) pairs -> {len(grouped_ballots):,})\n"
    )
    text = blt_text(raw, names, seats)
    parse_s, parsed = _median(repeat, lambda: blt.parse(text))
    say(
        f"  reading them as a one-line-per-paper BLT ({len(text) / 1e6:.1f} MB): "
        f"{parse_s:.3f} s (median of {repeat})\n"
    )
    profile = Profile(candidates=cands, ballots=grouped_ballots, seats=seats, grouped=True)
    if parsed.ballots != profile.ballots:
        raise SystemExit("bench count: the BLT reading and the grouping disagree")
    packed_s, packed = _median(repeat, lambda: blt.parse_packed(text))
    arrays_s, on_arrays = _median(repeat, lambda: count_packed(packed, "scottish"))
    if on_arrays != count(profile, "scottish", seats):
        raise SystemExit("bench count: the packed count and the tuple count disagree")
    say(
        f"  the same BLT read into arrays (the path `ballot count` takes for scottish): "
        f"{packed_s:.3f} s, counted there (scottish) {arrays_s:.3f} s (medians of {repeat})\n"
    )
    figures: dict[str, float] = {}
    winners: dict[str, set[str]] = {}
    for rule in ("scottish", "meek"):
        secs, result = _median(repeat, lambda rule=rule: count(profile, rule, seats))
        figures[rule] = secs
        winners[rule] = set(result.elected_names)
        say(
            f"  {rule:9s} {secs:8.3f} s  exact count of the profile "
            f"({len(result.rounds)} rounds; median of {repeat})\n"
        )

    calib = min(n, 10_000)
    est_build, est_s, _ = _pyrankvote(names, raw[:calib], seats)
    predicted = est_s * n / calib
    if args.pyrankvote_ballots is not None:
        measured_n = min(n, args.pyrankvote_ballots)
    elif predicted <= args.pyrankvote_budget:
        measured_n = n
    elif est_s * 10 <= args.pyrankvote_budget and calib * 10 <= n:
        measured_n = calib * 10
    else:
        measured_n = calib
    py_winners: set[str] | None
    if measured_n == calib:
        py_build, py_s, py_winners = est_build, est_s, None
    else:
        py_build, py_s, py_winners = _pyrankvote(names, raw[:measured_n], seats)
    scale = n / measured_n
    py_full, py_build_full = py_s * scale, py_build * scale
    how = (
        f"measured on all {n:,} ballots"
        if measured_n == n
        else f"EXTRAPOLATED x {scale:g} from the first {measured_n:,} ballots, linear in ballots"
    )
    say(
        f"  pyrankvote {py_full:8.2f} s  count ({how}); "
        f"building its {n:,} Ballot objects {py_build_full:.2f} s\n"
    )
    if py_winners is not None and measured_n == n:
        agree = "same" if py_winners == winners["scottish"] else "different"
        say(f"  pyrankvote winners vs scottish: {agree}\n")
    say(
        f"  speed-up vs pyrankvote (target: {TARGET:g}x on the count of the 1M profile, "
        "each tool handed the ballots already built in its own form)\n"
    )
    py_e2e = py_full + py_build_full
    for rule in ("scottish", "meek"):
        count_x = py_full / figures[rule]
        verdict = "meets" if count_x >= TARGET else "MISSES"
        say(
            f"    {rule:9s} count {count_x:6.1f}x ({verdict} {TARGET:g}x); "
            f"end to end, input building timed on both sides: "
            f"{py_e2e / (figures[rule] + group_s):5.1f}x from the raw pairs, "
            f"{py_e2e / (figures[rule] + parse_s):5.1f}x from the BLT text\n"
        )

    folder = Path(args.scotland) if args.scotland else _default_scotland()
    if folder is not None and (folder / "manifest.json").exists():
        manifest = json.loads((folder / "manifest.json").read_text())

        def wards() -> int:
            agree = 0
            for ward in manifest:
                text = (folder / ward["id"] / "ballots.blt").read_text(encoding="utf-8")
                profile = blt.parse(text)
                result = count(profile, "scottish")
                official = [w["blt_name"] for w in ward["official_winners_in_order"]]
                agree += list(result.elected_names) == official
            return agree

        secs, agree = _time(wards)
        ballots = sum(w["ballots"] for w in manifest)
        say(
            f"  scotland_2017: {len(manifest)} wards, {ballots:,} ballots, read + counted "
            f"(scottish) in {secs:.2f} s; official winners in order: {agree}/{len(manifest)}\n"
        )
    else:
        say("  scotland_2017 not found (give --scotland DIR)\n")

    say(f"  whole processes: generating the high-entropy profile (seed {args.seed})...\n")
    entropic = high_entropy(n, k, args.seed)
    gc.collect()
    say(f"  {_byte_compiled()}\n")
    rows = [
        whole_process("party", raw, names, seats, repeat, args.pyrankvote_budget),
        whole_process("high-entropy", entropic, names, seats, repeat, args.pyrankvote_budget),
    ]
    say(closing_note(rows, repeat))
    return 0


def _byte_compiled() -> str:
    """Byte-compile our packages, as installing them does (pyrankvote's and numpy's were
    compiled when pip installed them): with PYTHONDONTWRITEBYTECODE set, an editable
    checkout would otherwise be compiled from source by every process (~0.03 s)."""
    import compileall
    import os

    root = Path(__file__).resolve().parents[2]
    done = all(
        compileall.compile_dir(root / package, quiet=2)
        for package in ("ballot", "counter", "ledger")
    )
    setting = "set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "not set"
    state = "byte-compiled" if done else "NOT all byte-compiled"
    return f"our packages {state} first, as an install does (PYTHONDONTWRITEBYTECODE {setting})"


def _default_scotland() -> Path | None:
    here = Path(__file__).resolve().parents[2]
    for candidate in (
        here.parent / "shared" / "data" / "scotland_2017",
        here / "data" / "scotland_2017",
    ):
        if candidate.exists():
            return candidate
    return None
