"""`ballot demo`: a party's national executive election, end to end, on the embedded database.

Every step goes through the real HTTP APIs of a real ledger process and a real counter
process (both `ballot … serve` children of this command), on a PostgreSQL cluster the demo
starts itself under ``--data-dir``:

1. define the election: a members' section (9 seats, Scottish STV, at least 5 women), a
   councillors' section (2 seats, "vote for up to 2", at least 1 woman), a disabled members'
   seat and a youth seat, each with its candidates, genders and slates;
2. publish a seeded synthetic roll of ``--members`` members across 12 regions;
3. run nominations: ``--branches`` local branches nominate, a threshold applies;
4. open the poll and cast from ``--clients`` concurrent front-ends (slate loyalty, partial
   rankings, abstentions, turnout that differs by region), with turnout by region as the
   ledger publishes it (a report every 2 s);
5. close, open the sealed ballots, let the counter count and declare;
6. export and audit the log, and check one voter's receipt;
7. print the results against the last election (an imported summary of invented figures, named
   as the definition's ``predecessor``), the results page's place and the figures of the run.

With ``--keep-running`` a second, small election is opened for voting by hand: its members get
voting codes (``ballot booth codes``), a booth (``ballot booth serve``) is started, and the demo
prints the booth's address, a handful of codes and the receipt check page's address.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import operator
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ballot import receipt_check
from ballot.child import Service
from ballot.tools import download
from counter.rules.report import thousands
from ledger.errors import CliError
from ledger.format import export as exp
from ledger.format.acceptance import AcceptanceReceipt
from ledger.format.keys import Signer
from ledger.runtime.embedded import embedded_cluster, free_port
from ledger.runtime.keyfile import load_or_create_signer

console = Console()
ELECTION = "nec-2026"
BY_HAND = "nec-2026-booth"
"""The election left open for voting by hand in the booth (``--keep-running``)."""
REGIONS = [
    "Scotland",
    "Wales",
    "North East",
    "North West",
    "Yorkshire",
    "East Midlands",
    "West Midlands",
    "East",
    "London",
    "South East",
    "South West",
    "Northern Ireland",
]
SLATES = ["Grassroots Left", "Renewal", "Independent"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="run a whole executive election end to end")
    p.add_argument("--members", type=int, default=50_000, help="members on the roll")
    p.add_argument("--branches", type=int, default=300, help="nominating branches")
    p.add_argument("--clients", type=int, default=48, help="concurrent voting front-ends")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--data-dir", type=Path, default=Path("var/demo"), help="demo state folder")
    p.add_argument(
        "--keep-running",
        action="store_true",
        help="keep the services up at the end (Ctrl-C to stop)",
    )
    p.set_defaults(func=run)


# --- the election --------------------------------------------------------------------------


def _candidates(prefix: str, names: list[tuple[str, str, str | None]]) -> list[dict[str, Any]]:
    out = []
    for i, (name, gender, slate) in enumerate(names):
        c: dict[str, Any] = {"id": f"{prefix}{i + 1:02d}", "name": name, "gender": gender}
        if slate:
            c["slate"] = slate
        out.append(c)
    return out


MEMBERS = _candidates(
    "m",
    [
        ("Ada Achebe", "woman", SLATES[0]),
        ("Bryn Bowen", "man", SLATES[0]),
        ("Cerys Carr", "woman", SLATES[0]),
        ("Dev Desai", "man", SLATES[0]),
        ("Esme Ellis", "woman", SLATES[0]),
        ("Finn Foley", "man", SLATES[0]),
        ("Gita Gill", "woman", SLATES[1]),
        ("Hugh Hale", "man", SLATES[1]),
        ("Isla Irving", "woman", SLATES[1]),
        ("Jack Jarvis", "man", SLATES[1]),
        ("Kemi Kalu", "woman", SLATES[1]),
        ("Liam Lowe", "man", SLATES[1]),
        ("Mona Mirza", "woman", SLATES[2]),
        ("Ned Nash", "man", SLATES[2]),
        ("Orla Ord", "woman", None),
        ("Pete Price", "man", None),
        ("Quinn Quayle", "man", None),
        ("Rhea Rowe", "woman", None),
    ],
)
COUNCILLORS = _candidates(
    "c",
    [
        ("Sam Shah", "man", SLATES[0]),
        ("Tess Tate", "woman", SLATES[0]),
        ("Umar Udeh", "man", SLATES[1]),
        ("Vera Vance", "woman", SLATES[1]),
        ("Will Wynn", "man", None),
    ],
)
DISABLED = _candidates(
    "d",
    [
        ("Xena Xu", "woman", SLATES[0]),
        ("Yusuf Yates", "man", SLATES[1]),
        ("Zara Zane", "woman", None),
    ],
)
YOUTH = _candidates(
    "y",
    [
        ("Abi Amos", "woman", SLATES[0]),
        ("Ben Bloom", "man", SLATES[0]),
        ("Cara Cho", "woman", SLATES[1]),
        ("Dan Drew", "man", SLATES[1]),
    ],
)


AFFILIATES = 12
"""Affiliated organisations: they nominate in the members' section beside the branches."""
GROUPS = 20
"""Councillors' groups: the only bodies that nominate in the councillors' section."""


PREVIOUS_TITLE = "National Executive Committee 2024 (the demo's invented figures)"
"""The predecessor the demo's definition imports: its figures are made up from the seed (a
real election would import the last counter's ``/summary``, or name an election on the same
ledger)."""


def _eligible(contest: str, m: Member) -> bool:
    """Whether a member is in a contest's electorate (the definition's eligibility rules)."""
    return {
        "members": True,
        "councillors": m.councillor,
        "disabled": m.disabled,
        "youth": m.age < 27,
    }[contest]


def previous_summary(people: list[Member], branches: int, seed: int) -> dict[str, Any]:
    """The last election's results in brief, in the form a definition's ``predecessor.results``
    imports (``schemas/definition.schema.json#/$defs/summary``): invented from ``seed``, for
    the same candidates (most stood last time) and regions (a little smaller then)."""
    rng = random.Random(seed)
    contests: dict[str, Any] = {}
    turnout: dict[str, Any] = {}
    fields = operator.itemgetter("id", "title", "candidates", "seats")
    for cid, title, cands, seats in map(fields, definition()["contests"]):
        # The bodies that may nominate in each section (the definition's), a third more then.
        bodies = {"councillors": GROUPS, "members": int(branches * 1.3) + AFFILIATES}.get(
            cid, int(branches * 1.3)
        )
        stood = [c for c in cands if rng.random() < 0.8] or cands[:1]
        weights = {c["id"]: rng.uniform(0.3, 2.0) for c in stood}
        # Shares are of the valid ballots: a bloc paper marks up to `seats` candidates, so
        # a bloc section's shares add up to the marks per paper, not to 100%.
        marks = rng.uniform(1.3, 1.8) if cid == "councillors" else 1.0
        total = sum(weights.values()) / marks
        ranked = sorted(stood, key=lambda c: -weights[c["id"]])
        rows = [
            {
                "id": c["id"],
                "name": c["name"],
                "place": i + 1,
                "share": f"{min(1.0, weights[c['id']] / total):.4f}",
                "nominations": rng.randint(3, max(4, bodies // 3)),
                "elected": i < seats,
            }
            for i, c in enumerate(ranked)
        ]
        contests[cid] = {
            "title": title,
            "bodies": bodies,
            "nominations": sum(r["nominations"] for r in rows),
            "candidates": rows,
        }
        eligible = Counter(m.region for m in people if _eligible(cid, m))
        by: dict[str, int | None] = {}
        eligible_by: dict[str, int | None] = {}
        total = cast = 0
        for region in sorted(eligible):
            then = int(eligible[region] * rng.uniform(0.9, 1.05))
            voted = int(then * rng.uniform(0.2, 0.45))
            total, cast = total + then, cast + voted
            shown = voted >= 10 and then - voted >= 10
            by[region] = voted if shown else None
            eligible_by[region] = then if shown else None
        turnout[cid] = {
            "eligible": total,  # the regions' figures add up to the section's
            "cast": cast,
            "by": {"region": by},
            "eligible_by": {"region": eligible_by},
        }
    return {"title": PREVIOUS_TITLE, "results": {"contests": contests, "turnout": turnout}}


def definition(branches: int = 300, predecessor: dict[str, Any] | None = None) -> dict[str, Any]:
    """The demo's election; ``predecessor`` (``previous_summary``) names the last one."""
    extra = {"predecessor": predecessor} if predecessor else {}
    return {
        **extra,
        "title": "National Executive Committee 2026",
        "sealed": True,
        "nomination_threshold": 8,
        "nominating_bodies": {"branch": branches, "affiliate": AFFILIATES, "group": GROUPS},
        "reporting_dimensions": ["region"],
        "min_group_size": 10,
        "turnout": {"every": 2},
        "contests": [
            {
                "id": "members",
                "title": "Members' section",
                "seats": 9,
                "method": {"type": "stv", "rule": "scottish"},
                "candidates": MEMBERS,
                "constraints": [{"attribute": "gender", "value": "woman", "min": 5}],
                "nominations": {"share": "0.05", "by": ["branch", "affiliate"]},
            },
            {
                "id": "councillors",
                "title": "Councillors' section",
                "seats": 2,
                "method": {"type": "bloc", "max_marks": 2},
                "candidates": COUNCILLORS,
                "eligibility": {"attr": "role", "eq": "councillor"},
                "constraints": [{"attribute": "gender", "value": "woman", "min": 1}],
                "nominations": {"threshold": 3, "by": ["group"]},
            },
            {
                "id": "disabled",
                "title": "Disabled members' seat",
                "seats": 1,
                "method": {"type": "stv", "rule": "scottish"},
                "candidates": DISABLED,
                "eligibility": {"attr": "disabled", "eq": True},
            },
            {
                "id": "youth",
                "title": "Youth seat",
                "seats": 1,
                "method": {"type": "stv", "rule": "scottish"},
                "candidates": YOUTH,
                "eligibility": {"attr": "age", "lt": 27},
            },
        ],
    }


@dataclass
class Member:
    voter_id: str
    region: str
    age: int
    disabled: bool
    councillor: bool
    slate: int


def members(n: int, rng: random.Random) -> list[Member]:
    out = []
    for i in range(n):
        region = (
            REGIONS[min(int(rng.paretovariate(1.2)) - 1, len(REGIONS) - 1)]
            if rng.random() < 0.3
            else rng.choice(REGIONS)
        )
        lean = [0.45, 0.4, 0.15] if REGIONS.index(region) % 3 else [0.3, 0.55, 0.15]
        out.append(
            Member(
                voter_id=f"M{rng.getrandbits(40):010x}{i:06d}",
                region=region,
                age=int(min(90, max(16, rng.gauss(48, 17)))),
                disabled=rng.random() < 0.08,
                councillor=rng.random() < 0.03,
                slate=rng.choices(range(3), lean)[0],
            )
        )
    return out


def roll_csv(people: list[Member]) -> bytes:
    lines = ["voter_id,region,age,disabled,role"]
    for m in people:
        role = "councillor" if m.councillor else "member"
        lines.append(f"{m.voter_id},{m.region},{m.age},{str(m.disabled).lower()},{role}")
    return ("\n".join(lines) + "\n").encode()


# Candidate appeal: fixed per candidate, so some do well and two fall short of nominations.
def _appeal(rng: random.Random, cands: list[dict[str, Any]]) -> dict[str, float]:
    return {c["id"]: rng.uniform(0.5, 2.0) for c in cands}


def ranking(
    m: Member,
    cands: list[dict[str, Any]],
    appeal: dict[str, float],
    standing: set[str],
    rng: random.Random,
    bloc: int | None = None,
) -> list[str]:
    """A voter's ballot: own-slate candidates first (loyalty), then others by appeal; partial."""
    pool = [c for c in cands if c["id"] in standing]
    own = SLATES[m.slate]

    def weight(c: dict[str, Any]) -> float:
        loyal = 4.0 if c.get("slate") == own else 1.0
        return appeal[c["id"]] * loyal * rng.uniform(0.2, 1.8)

    ordered = [c["id"] for c in sorted(pool, key=weight, reverse=True)]
    if bloc is not None:
        return ordered[: rng.randint(1, bloc)]
    length = max(1, min(len(ordered), int(rng.expovariate(1 / 6)) + 1))
    return ordered[:length]


# --- processes ------------------------------------------------------------------------------


# --- the run --------------------------------------------------------------------------------


@dataclass
class Figures:
    rows: list[tuple[str, str]] = field(default_factory=list)

    def add(self, what: str, value: str) -> None:
        self.rows.append((what, value))


class Api:
    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        self.session, self.url = session, url
        self.auth = {"Authorization": f"Bearer {token}"}

    async def call(
        self, method: str, path: str, expect: tuple[int, ...] = (200, 201), **kw: Any
    ) -> Any:
        headers = {**self.auth, **kw.pop("headers", {})}
        async with self.session.request(method, self.url + path, headers=headers, **kw) as r:
            body = await r.json(content_type=None)
            if r.status not in expect:
                raise CliError(f"{method} {path} answered {r.status}: {body}")
            return body


def _step(n: int, text: str) -> None:
    console.rule(f"[bold cyan]{n}. {text}")


async def _nominate(
    admin: Api, rng: random.Random, branches: int, appeal: dict[str, dict[str, float]]
) -> int:
    jobs: list[dict[str, str]] = []
    contests = {
        "members": (MEMBERS, 4),
        "councillors": (COUNCILLORS, 1),
        "disabled": (DISABLED, 1),
        "youth": (YOUTH, 1),
    }
    # Which kinds of body nominate where (the definition's nominations.by): branches in every
    # section but the councillors'; affiliates in the members'; councillors' groups only there.
    bodies = [
        (f"{rng.choice(REGIONS).lower().replace(' ', '-')}-branch-{b:03d}", "branch")
        for b in range(branches)
    ]
    bodies += [(f"affiliate-{a:02d}", "affiliate") for a in range(AFFILIATES)]
    bodies += [(f"councillors-group-{g:02d}", "group") for g in range(GROUPS)]
    takes = {"members": {"branch", "affiliate"}, "councillors": {"group"}}
    for body, kind in bodies:
        for contest, (cands, k) in contests.items():
            if kind not in takes.get(contest, {"branch"}):
                continue
            weights = [appeal[contest][c["id"]] ** 3 for c in cands]
            chosen: set[str] = set()
            while len(chosen) < k:
                chosen.add(rng.choices(cands, weights)[0]["id"])
            jobs += [
                {"contest": contest, "candidate": c, "body": body, "kind": kind} for c in chosen
            ]
    queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    for j in jobs:
        queue.put_nowait(j)
    with Progress(
        TextColumn("nominations"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=len(jobs))

        async def worker() -> None:
            while not queue.empty():
                await admin.call(
                    "POST", f"/v1/elections/{ELECTION}/nominations", json=queue.get_nowait()
                )
                bar.advance(task)

        await asyncio.gather(*(worker() for _ in range(8)))
    console.print(
        f"{len(jobs):,} nominations from {branches:,} branches, {AFFILIATES} affiliates and "
        f"{GROUPS} councillors' groups"
    )
    return len(jobs)


def _nomination_table(tallies: dict[str, Any], titles: dict[str, str]) -> None:
    for contest in sorted(tallies["nominations"], key=list(titles).index):
        info = tallies["nominations"][contest]
        kinds = f": {', '.join(info['by'])}" if info.get("by") else ""
        t = Table(
            title=f"Nominations: {titles[contest]} ({info['bodies']:,} nominating bodies"
            f"{kinds}; threshold {info['threshold']})",
            title_justify="left",
        )
        for col in ("candidate", "slate", "nominations", "share", "valid"):
            t.add_column(col, justify="right" if col in ("nominations", "share") else "left")
        for row in sorted(info["candidates"], key=lambda r: -r["nominations"]):
            t.add_row(
                row["name"],
                row["slate"] or "—",
                str(row["nominations"]),
                f"{float(row['share']):.1%}",
                "yes" if row["valid"] else "[red]no[/]",
            )
        console.print(t)
        if info["slates"]:
            console.print(
                "  slate totals: "
                + ", ".join(
                    f"{s} {n}" for s, n in sorted(info["slates"].items(), key=lambda x: -x[1])
                )
            )


def _turnout_table(turnout: dict[str, Any], cast: int, total: int) -> Table:
    """The latest published turnout report (taken every 2 s, skipped while a change is below
    the threshold; the groups stay suppressed until the final report after the close): the
    ledger serves no live count."""
    members = turnout["contests"]["members"]
    when = (turnout.get("time") or "")[11:19]
    t = Table(
        title=f"Members' section as the ledger last published it "
        f"({'at ' + when if when else 'nothing published yet'}): {members['cast']:,} ballots "
        f"released to the log; the front-ends have sent {cast:,} of {total:,} papers",
        title_justify="left",
    )
    t.add_column("region")
    t.add_column("ballots", justify="right")
    by = members["by"].get("region", {})
    if all(n is None for n in by.values()):
        t.add_row("every region", "withheld until the final report after the close")
        return t
    for region in REGIONS:
        n = by.get(region)
        t.add_row(region, "suppressed" if n is None else f"{n:,}")
    return t


async def _cast_all(
    front: Api,
    ledger_url: str,
    papers: list[dict[str, Any]],
    clients: int,
    receipts: dict[str, dict[str, Any]],
) -> float:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for p in papers:
        queue.put_nowait(p)
    progress = Progress(
        TextColumn("casting"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:,} papers"),
        TimeElapsedColumn(),
    )
    task = progress.add_task("", total=len(papers))
    done = 0
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal done
        while not queue.empty():
            paper = queue.get_nowait()
            sent = {k: v for k, v in paper.items() if k != "region"}
            body = await front.call("POST", f"/v1/elections/{ELECTION}/ballots", json=sent)
            if len(receipts) < 5:
                receipts[paper["voter_id"]] = body["receipts"]
            done += 1
            progress.advance(task)

    async def watch(live: Live) -> None:
        while True:
            async with front.session.get(f"{ledger_url}/v1/elections/{ELECTION}/turnout") as r:
                turnout = await r.json()
            grid = Table.grid()
            grid.add_row(progress)
            grid.add_row(_turnout_table(turnout, done, len(papers)))
            live.update(grid)
            await asyncio.sleep(1.0)

    with Live(console=console, refresh_per_second=4) as live:
        watcher = asyncio.create_task(watch(live))
        await asyncio.gather(*(worker() for _ in range(clients)))
        await asyncio.sleep(1.1)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    return time.perf_counter() - started


def _print_result(r: dict[str, Any], title: str) -> None:
    doc = r["result"]
    seats = doc["seats"]
    t = Table(
        title=f"{title}: {seats} seat{'s' if seats != 1 else ''}, {doc['title']}",
        title_justify="left",
    )
    t.add_column("#", justify="right")
    t.add_column("elected")
    t.add_column("gender")
    t.add_column("slate")
    by_name = {c["name"]: c for c in doc["candidates"]}
    for i, name in enumerate(doc["elected"], 1):
        c = by_name[name]
        t.add_row(str(i), name, c["gender"] or "", c["slate"] or "—")
    console.print(t)
    for line in result_words(doc):
        console.print(f"  {line}")


def result_words(doc: dict[str, Any]) -> list[str]:
    """A counted contest's figures and margin in sentences (the margin is the counter's own:
    the result document's ``runner_up``)."""
    returned = [
        r["name"] + (f" (under the {r['under'].split('=')[0]} requirement)" if r["under"] else "")
        for r in doc.get("returned_unopposed", [])
    ]
    if doc.get("outcome") == "returned unopposed":
        head = f"Returned unopposed at the close of nominations: {', '.join(returned)}; no poll."
        return [head, *(f"{note}." for note in doc.get("constraints_adjusted", []))]
    valid, rejected = doc["valid_ballots"], doc["invalid_ballots"]
    papers = f"{valid:,} valid ballot{'s' if valid != 1 else ''}, {rejected:,} rejected"
    if returned:
        papers = f"Returned unopposed: {', '.join(returned)}. {papers}"
    if doc["rule"] != "bloc":
        papers += f"; quota {thousands(doc['quota'])}"
    lines = [papers + "."]
    runner = doc.get("runner_up")
    lines.append(f"Runner-up: {runner['text']}." if runner else "No runner-up: no one else stood.")
    lines += [f"{note}." for note in doc.get("constraints_adjusted", [])]
    for a in doc.get("constraint_actions", []):
        lines.append(
            f"The minimum {a['constraint']} acted at stage {a['round']}: {a['action']} "
            f"{', '.join(a['candidates'])}."
        )
    return lines


def final_turnout_words(
    report: dict[str, Any], titles: dict[str, str], no_poll: Collection[str] = ()
) -> list[str]:
    """The ledger's final turnout report in sentences: each section's voters of its eligible
    members, then by region as published (eligible, voted and turnout; groups the rule
    suppresses said to be); a section in ``no_poll`` (returned unopposed) had no poll."""
    lines = ["Turnout as the ledger published it after the close:"]
    for cid in titles:
        c = report.get("contests", {}).get(cid)
        if c is None:
            continue
        if cid in no_poll:
            lines.append(f"  {titles[cid]}: no poll ({c['eligible']:,} eligible members).")
            continue
        share = f" ({c['cast'] / c['eligible']:.1%})" if c["eligible"] else ""
        line = f"  {titles[cid]}: {c['cast']:,} of {c['eligible']:,} voted{share}"
        by = c.get("by", {}).get("region", {})
        eligible = c.get("eligible_by", {}).get("region", {})
        order = {r: i for i, r in enumerate(REGIONS)}
        regions = [
            f"{r} {n / eligible[r]:.1%} ({n:,} of {eligible[r]:,})"
            if n is not None and eligible.get(r)
            else f"{r} suppressed"
            for r, n in sorted(by.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
        ]
        if any(n is not None for n in by.values()):
            line += "; by region: " + "; ".join(regions)
        elif by:
            line += "; every region suppressed (too few voters or non-voters in some group)"
        lines.append(line + ".")
    return lines


def against_words(against: dict[str, Any], titles: dict[str, str]) -> list[str]:
    """The results against the last election in sentences, as the seeds read them: each
    elected candidate's share and place with the change, nominations and turnout against
    last time (the counter's ``/comparison``)."""
    lines = [f"Against {against['title']}:"]
    for cid, c in against["contests"].items():
        elected = [
            f"{r['name']} {r['change']}"
            if r["change"].startswith(("up ", "down ", "unchanged "))
            else f"{r['name']} {r['percent']}, {r['change']}"
            if r.get("percent")
            else f"{r['name']} ({r['change']})"
            for r in sorted(c["candidates"], key=lambda r: r.get("place") or 0)
            if r.get("elected")
        ]
        t = against["turnout"].get(cid, {})
        nominations = (
            f"{c['nominations']:,} nominations from {c['bodies']:,} bodies, against "
            f"{c['previous_nominations']:,} from {c['previous_bodies']:,}"
            if c.get("previous_nominations") is not None
            else f"{c['nominations']:,} nominations"
        )
        if not t.get("polled", True):
            turnout = "; no poll this time"
        else:
            turnout = f"; turnout {t['change']}" if t.get("change") else ""
        lines.append(
            f"  {titles.get(cid, cid)}: {nominations}{turnout}"
            + (f". Elected: {'; '.join(elected)}." if elected else ".")
        )
    return lines


def _people(n: int, value: str) -> str:
    """ "1 woman", "5 women", "2 men", "3 nonbinary candidates"."""
    plural = {"woman": "women", "man": "men"}
    if value in plural:
        return f"{n} {value if n == 1 else plural[value]}"
    return f"{n} {value} candidate{'s' if n != 1 else ''}"


def eligibility_words(rule: dict[str, Any]) -> str:
    """An eligibility rule in words: ``{"attr": "age", "lt": 27}`` -> "age under 27"."""
    if "all" in rule:
        return " and ".join(eligibility_words(r) for r in rule["all"])
    if "any" in rule:
        return " or ".join(eligibility_words(r) for r in rule["any"])
    if "not" in rule:
        return f"not ({eligibility_words(rule['not'])})"
    attr = str(rule["attr"]).replace("_", " ")
    (op, value), *_ = ((k, v) for k, v in rule.items() if k != "attr")
    if op == "eq" and value is True:
        return attr
    if op == "eq" and value is False:
        return f"not {attr}"
    words = {
        "eq": "is",
        "ne": "is not",
        "lt": "under",
        "lte": "at most",
        "gt": "over",
        "gte": "at least",
        "in": "one of",
    }
    shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return f"{attr} {words[op]} {shown}"


def contest_words(c: dict[str, Any]) -> str:
    """A contest of the definition in one sentence."""
    seats = c["seats"]
    method = "vote for up to " + str(seats) if c["method"]["type"] == "bloc" else "STV"
    parts = [
        f"{c['title']}: {seats} seat{'s' if seats != 1 else ''} ({method}), "
        f"{len(c['candidates'])} candidates"
    ]
    if "eligibility" in c:
        parts.append(f"voters: {eligibility_words(c['eligibility'])}")
    for k in c.get("constraints", []):
        parts.append(f"at least {_people(k['min'], k['value'])}")
    return "; ".join(parts) + "."


def turnout_words(people: list[Member], papers: list[dict[str, Any]]) -> list[str]:
    """What the front-ends sent, in a sentence: members who sent a paper (for any section),
    of the roll. Each section's turnout is the ledger's, published after the close
    (``final_turnout_words``); the demo's own count of what it sent is not a turnout figure."""
    total = len(people)
    if not total:
        return ["Sent: no members on the roll."]
    return [
        f"Sent: {len(papers):,} of {total:,} members sent a paper ({len(papers) / total:.1%}), "
        "each with a ballot for every section they are eligible in or some of them; each "
        "section's turnout is the ledger's, published after the close."
    ]


async def _scenario(args: argparse.Namespace, admin_url: str, run_dir: Path) -> int:
    rng = random.Random(args.seed)
    figures = Figures()
    t_all = time.perf_counter()
    base = admin_url.rsplit("/", 1)[0]
    stamp = time.strftime("%Y%m%d_%H%M%S")
    conn = await asyncpg.connect(admin_url)
    for db in (f"demo_ledger_{stamp}", f"demo_counter_{stamp}"):
        await conn.execute(f'CREATE DATABASE "{db}"')
    await conn.close()
    admin_token, front_token, counter_token = (secrets.token_hex(16) for _ in range(3))
    ledger_key = load_or_create_signer(run_dir / "ledger.key", "ballot-ledger.demo/ledger")
    counter_key = load_or_create_signer(run_dir / "counter.key", "ballot-ledger.demo/counter")
    ledger = Service(
        "ledger",
        ["ledger", "serve"],
        {
            "DATABASE_URL": f"{base}/demo_ledger_{stamp}",
            "BALLOT_PORT": "0",
            "BALLOT_DATA_DIR": str(run_dir),
            "BALLOT_KEY_FILE": str(run_dir / "ledger.key"),
            "BALLOT_KEY_NAME": "ballot-ledger.demo/ledger",
            "BALLOT_ADMIN_TOKENS": admin_token,
            "BALLOT_FRONTEND_TOKENS": f"{front_token}=*",
            "BALLOT_COUNTER_TOKENS": f"{counter_token}={ELECTION}",
            "BALLOT_COUNTER_KEYS": counter_key.verifier.text(),
            "BALLOT_CHECKPOINT_INTERVAL": "2",
            "BALLOT_RELEASE_EVERY": "2",
            "BALLOT_ORIGIN_PREFIX": "ballot-ledger.demo",
            "BALLOT_LOG_FORMAT": "json",
        },
        run_dir / "ledger.log",
        free_port(),
    )
    ledger.env["BALLOT_PORT"] = str(ledger.port)
    counter = Service(
        "counter",
        ["counter", "serve"],
        {
            "BALLOT_COUNTER_DATABASE_URL": f"{base}/demo_counter_{stamp}",
            "BALLOT_COUNTER_LEDGER_URL": ledger.url,
            "BALLOT_COUNTER_LEDGER_KEYS": ledger_key.verifier.text(),
            "BALLOT_COUNTER_LEDGER_TOKEN": counter_token,
            "BALLOT_COUNTER_DATA_DIR": str(run_dir),
            "BALLOT_COUNTER_KEY_FILE": str(run_dir / "counter.key"),
            "BALLOT_COUNTER_KEY_NAME": "ballot-ledger.demo/counter",
            "BALLOT_COUNTER_DISCOVER_INTERVAL": "1",
            "BALLOT_COUNTER_LOG_FORMAT": "json",
        },
        run_dir / "counter.log",
        free_port(),
    )
    counter.env["BALLOT_COUNTER_PORT"] = str(counter.port)
    services: list[Service] = []
    try:
        await ledger.start()
        await counter.start()
        console.print(f"ledger  {ledger.url}  (log {ledger.log})")
        console.print(f"counter {counter.url}  (log {counter.log})")
        timeout = aiohttp.ClientTimeout(total=600)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            admin = Api(session, ledger.url, admin_token)
            front = Api(session, ledger.url, front_token)
            public = Api(session, counter.url, "")

            _step(1, "define the election")
            people = members(args.members, rng)
            previous = previous_summary(people, args.branches, args.seed - 2)
            defined = definition(args.branches, previous)
            await admin.call("PUT", f"/v1/elections/{ELECTION}", json=defined)
            contests = defined["contests"]
            titles = {c["id"]: c["title"] for c in contests}
            for c in contests:
                console.print(f"  {contest_words(c)}")

            _step(2, f"publish the roll of {args.members:,} members")
            t0 = time.perf_counter()
            body = await admin.call(
                "PUT",
                f"/v1/elections/{ELECTION}/roll",
                data=roll_csv(people),
                headers={"Content-Type": "text/csv"},
            )
            figures.add("roll upload", f"{args.members:,} rows in {time.perf_counter() - t0:.1f} s")
            for contest, info in body["summary"]["contests"].items():
                console.print(
                    f"  {contest}: {info['eligible']:,} eligible, roll hash "
                    f"{info['roll_hash'][:16]}…"
                )

            _step(3, f"nominations from {args.branches} branches")
            appeal = {
                k: _appeal(rng, v)
                for k, v in (
                    ("members", MEMBERS),
                    ("councillors", COUNCILLORS),
                    ("disabled", DISABLED),
                    ("youth", YOUTH),
                )
            }
            await admin.call("POST", f"/v1/elections/{ELECTION}/nominations/open")
            t0 = time.perf_counter()
            n_nominations = await _nominate(admin, rng, args.branches, appeal)
            await admin.call("POST", f"/v1/elections/{ELECTION}/nominations/close")
            t_nom = time.perf_counter() - t0
            figures.add(
                "nominations",
                f"{n_nominations:,} from {args.branches + AFFILIATES + GROUPS:,} bodies "
                f"({args.branches:,} branches) in {t_nom:.1f} s = "
                f"{n_nominations / t_nom:,.0f} nominations/s (8 clients)",
            )
            state = await admin.call("GET", f"/v1/elections/{ELECTION}")
            tallies = await _wait_tallies(public, state["size"])
            _nomination_table(tallies, titles)
            returns = state["returns"]
            names = {c["id"]: {x["id"]: x["name"] for x in c["candidates"]} for c in contests}
            for contest, ret in returns.items():
                for note in ret["unmet"]:
                    console.print(
                        f"  [yellow]{contest}: minimum {note['attribute']}="
                        f"{note['value']}:{note['min']} cannot be met in full "
                        f"({note['standing']} standing, policy {note['policy']})[/]"
                    )
                title = titles[contest]
                for r in ret["unopposed"]:
                    under = (
                        f" under the {r['under'].split('=')[0]} requirement" if r["under"] else ""
                    )
                    name = names[contest][r["candidate"]]
                    console.print(f"  {title}: {name} returned unopposed{under}")
                if ret["polled_seats"] == 0:
                    console.print(f"  {title}: no poll (off the ballot paper)")
            # On the ballot paper: the contests polled, less those returned unopposed.
            standing = {
                c: set(v) - {r["candidate"] for r in returns.get(c, {}).get("unopposed", [])}
                for c, v in state["standing"].items()
                if returns.get(c, {}).get("polled_seats", 1) > 0
            }

            _step(4, "open the poll and vote")
            await admin.call("POST", f"/v1/elections/{ELECTION}/poll/open")
            marks = returns.get("councillors", {}).get("polled_seats", 2) or 2
            papers = list(_papers(people, rng, standing, appeal, marks))
            n_ballots = sum(len(p["selections"]) for p in papers)
            receipts: dict[str, dict[str, Any]] = {}
            t_cast = await _cast_all(front, ledger.url, papers, args.clients, receipts)
            figures.add(
                "casting",
                f"{len(papers):,} papers, {n_ballots:,} ballots in "
                f"{t_cast:.1f} s = {n_ballots / t_cast:,.0f} ballots/s "
                f"({len(papers) / t_cast:,.0f} papers/s), {args.clients} clients",
            )
            console.print()
            for line in turnout_words(people, papers):
                console.print(line)

            _step(5, "close, open the sealed ballots, count, declare")
            t0 = time.perf_counter()
            closed = await admin.call("POST", f"/v1/elections/{ELECTION}/poll/close")
            t_close = time.perf_counter() - t0
            figures.add("close + openings", f"{closed['opened']:,} openings in {t_close:.1f} s")
            final = await admin.call("GET", f"/v1/elections/{ELECTION}/turnout")
            no_poll = [c for c, ret in returns.items() if ret["polled_seats"] == 0]
            for line in final_turnout_words(final, titles, no_poll):
                console.print(line)
            t0 = time.perf_counter()
            provisional = await _wait_counted(public, admin, 4)
            t_count = time.perf_counter() - t0
            figures.add("counter: follow + count", f"{t_count:.1f} s after close")
            # Declaration on approval: the officer reviews each provisional result, then
            # approves it (what `ballot election declare ID CONTEST` calls).
            for r in provisional:
                console.print(
                    f"provisional result, {r['contest']}: {', '.join(r['result']['elected'])}; "
                    "approved by the returning officer"
                )
                await admin.call(
                    "POST", f"/v1/elections/{ELECTION}/contests/{r['contest']}/declare"
                )
            results = await _wait_declared(public, 4)
            for r in results:
                _print_result(r, titles[r["contest"]])
            against = (await public.call("GET", f"/v1/elections/{ELECTION}/comparison"))["against"]
            for line in against_words(against, titles):
                console.print(line)

            _step(6, "audit the log and check a receipt")
            export_path = run_dir / f"{ELECTION}.export.ndjson"
            t0 = time.perf_counter()
            await download(ledger.url, ELECTION, export_path)
            t_export = time.perf_counter() - t0
            report = await asyncio.to_thread(_audit, export_path, ledger_key, counter_key)
            figures.add("export", f"{report['entries']:,} entries in {t_export:.1f} s")
            figures.add(
                "audit",
                f"{report['entries']:,} entries in {report['seconds']:.1f} s = "
                f"{report['entries_per_second']:,} entries/s",
            )
            if not report["ok"]:
                console.print(f"[red]audit FAILED[/]: {report['failure']}")
                return 1
            console.print(
                f"[green]audit passed[/]: {report['entries']:,} entries, "
                f"{report['checkpoints']} signed checkpoints, root {report['root'][:16]}…"
            )
            for contest, res in report["results"].items():
                same = "equals" if res.get("matches_declaration", False) else "[red]DIFFERS FROM[/]"
                console.print(f"  {titles[contest]}: the recount {same} the declaration")
            for line in _rounds_prose(report, titles):
                console.print(line)
            papers_receipts = next(iter(receipts.values()))
            receipt = AcceptanceReceipt.from_json(papers_receipts["members"])
            outcome = await receipt_check.check_acceptance(
                receipt,
                url=ledger.url,
                state_path=run_dir / "receipts.json",
                keys=[ledger_key.verifier.text()],
            )
            console.print(f"receipt {receipt.code}: {outcome.status} (entry {outcome.index}):")
            for s in outcome.steps:
                console.print(f"  [green]✓[/] {s}")

            _step(7, "results page and figures")
            page = run_dir / "results.html"
            async with session.get(f"{counter.url}/elections/{ELECTION}") as resp:
                page.write_text(await resp.text())
            console.print(f"results page: {counter.url}/elections/{ELECTION} (saved to {page})")
            for c in contests:
                url = f"{counter.url}/elections/{ELECTION}/contests/{c['id']}"
                console.print(f"  {c['title']}, its declaration and stage sheet: {url}")
            figures.add(
                "whole demo", f"{time.perf_counter() - t_all:.1f} s on {os.cpu_count()} cores"
            )
            t = Table(title="Figures of this run", title_justify="left")
            t.add_column("step")
            t.add_column("figure")
            for row in figures.rows:
                t.add_row(*row)
            console.print(t)
            if args.keep_running:
                booth = await _open_booth(
                    admin, ledger.url, front_token, people, admin_url, stamp, run_dir
                )
                services.append(booth)
                console.print("services are running; Ctrl-C to stop")
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.Event().wait()
        return 0
    finally:
        for service in services:
            service.stop()
        counter.stop()
        ledger.stop()


def _statement(c: dict[str, Any]) -> str:
    slate = c.get("slate")
    first = c["name"].split()[0]
    return (
        f"{first} has been a branch officer for six years"
        + (f" and stands for {slate}." if slate else " and stands as an independent.")
        + f"\n\n{first} will report back to members after every meeting."
    )


async def _open_booth(
    admin: Api,
    ledger_url: str,
    front_token: str,
    people: list[Member],
    admin_url: str,
    stamp: str,
    run_dir: Path,
) -> Service:
    """Open a small election for voting by hand: codes for its members, a booth, and the
    addresses and codes to use printed."""
    _step(8, "a booth to vote by hand")
    doc = definition()
    doc.update(title="National Executive Committee 2026 (vote by hand)", nomination_threshold=0)
    for contest in doc["contests"]:
        contest["candidates"] = [dict(c, statement=_statement(c)) for c in contest["candidates"]]
    voters = people[:200]
    roll_text = roll_csv(voters)
    await admin.call("PUT", f"/v1/elections/{BY_HAND}", json=doc)
    await admin.call(
        "PUT",
        f"/v1/elections/{BY_HAND}/roll",
        data=roll_text,
        headers={"Content-Type": "text/csv"},
    )
    await admin.call("POST", f"/v1/elections/{BY_HAND}/poll/open")
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "demo_booth_{stamp}"')
    finally:
        await conn.close()
    env = {
        "BALLOT_BOOTH_DATABASE_URL": f"{admin_url.rsplit('/', 1)[0]}/demo_booth_{stamp}",
        "BALLOT_BOOTH_DATA_DIR": str(run_dir / "booth"),
        "BALLOT_BOOTH_LEDGER_URL": ledger_url,
        "BALLOT_BOOTH_LEDGER_TOKEN": front_token,
        "BALLOT_BOOTH_LOG_FORMAT": "json",
    }
    roll, codes_file = run_dir / "booth-roll.csv", run_dir / "booth-codes.csv"
    roll.write_bytes(roll_text)
    made = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "ballot.cli",
            "booth",
            "codes",
            "--election",
            BY_HAND,
            "--roll",
            str(roll),
            "-o",
            str(codes_file),
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        raise CliError(f"ballot booth codes failed: {made.stderr.strip()}")
    booth = Service("booth", ["booth", "serve"], env, run_dir / "booth.log", free_port())
    booth.env["BALLOT_BOOTH_PORT"] = str(booth.port)
    booth.env["BALLOT_BOOTH_METRICS_PORT"] = str(booth.metrics_port)
    await booth.start()
    codes = dict(line.split(",")[1:] for line in codes_file.read_text().splitlines()[1:] if line)
    by_id = {m.voter_id: m for m in voters}
    shown = _sample_members(voters)
    console.print(f"booth       {booth.url}  (log {booth.log})")
    console.print(f"check page  {ledger_url}/check  (receipt codes, election {BY_HAND})")
    console.print(f"all {len(codes)} codes: {codes_file}")
    t = Table(title="Voting codes to try", title_justify="left")
    t.add_column("code")
    t.add_column("member")
    for voter in shown:
        m = by_id[voter]
        about = [f"age {m.age}", m.region]
        if m.disabled:
            about.append("disabled")
        if m.councillor:
            about.append("councillor")
        t.add_row(codes[voter], ", ".join(about))
    console.print(t)
    return booth


def _sample_members(voters: list[Member]) -> list[str]:
    """Five members whose ballots differ: the young, a councillor, a disabled member, others."""
    picks: list[str] = []
    for test in (
        lambda m: m.age < 27,
        lambda m: m.councillor,
        lambda m: m.disabled,
        lambda m: True,
        lambda m: True,
    ):
        found = next((m for m in voters if test(m) and m.voter_id not in picks), None)
        if found is not None:
            picks.append(found.voter_id)
    return picks


def _papers(
    people: list[Member],
    rng: random.Random,
    standing: dict[str, set[str]],
    appeal: dict[str, dict[str, float]],
    councillor_marks: int = 2,
) -> Iterator[dict[str, Any]]:
    turnout = {r: 0.30 + 0.3 * ((i * 7) % 12) / 11 for i, r in enumerate(REGIONS)}
    for m in people:
        if rng.random() >= turnout[m.region]:
            continue
        sel: dict[str, list[str]] = {}
        for cid, cands, sends in (
            ("members", MEMBERS, 0.97),
            ("councillors", COUNCILLORS, 0.9),
            ("disabled", DISABLED, 0.85),
            ("youth", YOUTH, 0.8),
        ):
            if cid in standing and _eligible(cid, m) and rng.random() < sends:
                bloc = councillor_marks if cid == "councillors" else None
                sel[cid] = ranking(m, cands, appeal[cid], standing[cid], rng, bloc)
        if sel:
            yield {
                "submission_id": f"demo-{m.voter_id}",
                "voter_id": m.voter_id,
                "selections": sel,
                "region": m.region,
            }


async def _wait_tallies(public: Api, size: int) -> dict[str, Any]:
    for _ in range(600):
        tallies: dict[str, Any] = await public.call(
            "GET", f"/v1/elections/{ELECTION}/tallies", expect=(200, 404, 409)
        )
        if tallies.get("size", 0) >= size:
            return tallies
        await asyncio.sleep(0.1)
    raise CliError("the counter did not catch up with the ledger")


async def _wait_counted(public: Api, admin: Api, n: int) -> list[dict[str, Any]]:
    """Until the counter has counted every contest and the ledger holds its declarations as
    the provisional results, awaiting approval."""

    async def counted(results: list[dict[str, Any]]) -> bool:
        held = (await admin.call("GET", f"/v1/elections/{ELECTION}"))["provisional"]
        return len(results) == n and len(held) == n

    return await _wait_results(public, counted, "count every contest")


async def _wait_declared(public: Api, n: int) -> list[dict[str, Any]]:
    async def declared(results: list[dict[str, Any]]) -> bool:
        return len(results) == n and all(r["declared"] for r in results)

    return await _wait_results(public, declared, "declare every result")


async def _wait_results(
    public: Api, done: Callable[[list[dict[str, Any]]], Awaitable[bool]], what: str
) -> list[dict[str, Any]]:
    """The counter's results, polled until ``done`` says so, in the definition's order."""
    for _ in range(3000):
        body = await public.call("GET", f"/v1/elections/{ELECTION}/results", expect=(200, 404, 409))
        results: list[dict[str, Any]] = body.get("results", [])
        if await done(results):
            order = ["members", "councillors", "disabled", "youth"]
            return sorted(results, key=lambda r: order.index(r["contest"]))
        await asyncio.sleep(0.2)
    raise CliError(f"the counter did not {what} in time")


def _rounds_prose(report: dict[str, Any], titles: dict[str, str]) -> list[str]:
    """What the audit found of the release rounds, from the export alone, in sentences."""
    k = report.get("round_size")
    rounds = report.get("rounds") or {}
    if k is None:
        return []
    lines = [f"Ballots entered the log in release rounds of at least K = {k} per contest:"]
    for contest, r in rounds.items():
        if not r["ballots"]:
            continue
        plural = "round" if r["rounds"] == 1 else "rounds"
        lines.append(
            f"  {titles.get(contest, contest)}: {r['ballots']:,} ballots in {r['rounds']} "
            f"{plural}; every ballot shares its time stamp with at least "
            f"{r['smallest'] - 1:,} others of its contest."
        )
    for contest in report.get("below_round_size") or []:
        lines.append(
            f"  {titles.get(contest, contest)} has fewer than {k} eligible members: its ballots "
            "are protected only among themselves."
        )
    return lines


def _audit(path: Path, ledger_key: Signer, counter_key: Signer) -> dict[str, Any]:
    from counter.tally.audit import audit

    with path.open("rb") as fh:
        report = audit(
            exp.parse_lines(fh),
            ledger_keys=[ledger_key.verifier.text()],
            counter_keys=[counter_key.verifier.text()],
        )
    return report.to_json()


def run(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir
    run_dir = (data_dir / "runs" / time.strftime("%Y%m%d-%H%M%S")).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    # SIGTERM (a service manager, `kill`) stops the demo as Ctrl-C does: the ledger, counter,
    # booth and embedded PostgreSQL it started are stopped by their ``finally`` blocks.
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        with embedded_cluster(data_dir / "postgres") as cluster:
            console.print(
                f"[bold]PostgreSQL[/] {cluster.bin_dir} on port {cluster.port}; "
                f"this run's files: {run_dir}"
            )
            return asyncio.run(_scenario(args, cluster.admin_url, run_dir))
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
