"""`ballot bench booth`: what a member's way from voting code to receipt costs at a booth.

Against a running booth (``ballot demo --keep-running`` prints one, with its codes file), each
of ``--members`` codes goes the way a browser with JavaScript off goes, one member after
another: the sign-in page and its style sheet and script, the code, the ballot page, the marks
(the first candidates of each contest, enough to satisfy its rules), the review page, the cast,
the receipt page. Printed: the pages and requests per member, and the time from sending the
code to holding the receipt page (median, p90, max), with each step's median. The member's own
reading and typing time is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import re
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp

from ledger.errors import CliError

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_SUBMISSION = re.compile(r'name="submission" value="([^"]+)"')
_BOX = re.compile(r'name="(bloc-[a-z0-9_-]+)" value="([a-z0-9_-]+)"')
_SELECT = re.compile(r'<select id="(rank-([a-z0-9_-]+?)-[a-z0-9_-]+)"')
_LEAST = re.compile(r'aria-labelledby="title-([a-z0-9_-]+)".*?Rank at least (\d+)', re.S)
_UP_TO = re.compile(r'data-up-to="(\d+)"')


def add_parser(bench_sub: Any) -> None:
    p = bench_sub.add_parser("booth", help="a member's way from code to receipt at a running booth")
    p.add_argument("--url", required=True, help="the booth's address")
    p.add_argument("--codes", type=Path, required=True, help="a codes file (ballot booth codes)")
    p.add_argument("--members", type=int, default=20, help="members who vote")
    p.add_argument("--skip", type=int, default=0, help="codes to pass over (used by a run before)")
    p.set_defaults(func=run)


def marks(page: str) -> dict[str, list[str]]:
    """A valid ballot for the ballot page: the first box of each bloc contest, and the first
    candidates of each STV contest ranked 1, 2, … as many as it needs (at least 1)."""
    form: dict[str, list[str]] = {}
    for name, value in _BOX.findall(page):
        form.setdefault(name, [value])
    least = {c: int(n) for c, n in _LEAST.findall(page)}
    ranked: dict[str, int] = defaultdict(int)
    for field, contest in _SELECT.findall(page):
        if ranked[contest] < max(1, least.get(contest, 1)):
            ranked[contest] += 1
            form[field] = [str(ranked[contest])]
    return form


async def _member(
    http: aiohttp.ClientSession, url: str, code: str, steps: dict[str, list[float]]
) -> tuple[int, int, float]:
    """One member's way: (pages, requests, seconds from code to receipt)."""
    requests = 0

    async def fetch(method: str, path: str, **kw: Any) -> str:
        nonlocal requests
        async with http.request(method, url + path, **kw) as r:
            requests += 1 + len(r.history)
            text = await r.text()
            if r.status >= 400:
                raise CliError(f"{method} {path} answered {r.status}")
            return text

    page = await fetch("GET", "/")
    await fetch("GET", "/static/booth.css")
    await fetch("GET", "/static/booth.js")
    token = _CSRF.search(page)
    assert token is not None
    t0 = time.perf_counter()
    ballot = await fetch("POST", "/sign-in", data={"csrf": token.group(1), "code": code})
    t1 = time.perf_counter()
    if "Review your choices" not in ballot:
        raise CliError(f"code {code[:4]}… did not reach a ballot (already used?)")
    token = _CSRF.search(ballot)
    assert token is not None
    form = [("csrf", token.group(1))] + [(k, v) for k, vs in marks(ballot).items() for v in vs]
    review = await fetch("POST", "/ballot", data=form)
    t2 = time.perf_counter()
    token, sub = _CSRF.search(review), _SUBMISSION.search(review)
    assert token is not None and sub is not None
    receipt = await fetch(
        "POST", "/cast", data={"csrf": token.group(1), "submission": sub.group(1)}
    )
    t3 = time.perf_counter()
    if "Your vote has been cast" not in receipt:
        raise CliError("the cast did not give a receipt page")
    steps["code -> ballot page"].append(t1 - t0)
    steps["marks -> review page"].append(t2 - t1)
    steps["cast -> receipt page"].append(t3 - t2)
    return 4, requests, t3 - t0


async def bench(url: str, codes: list[str]) -> dict[str, Any]:
    steps: dict[str, list[float]] = defaultdict(list)
    totals, requests = [], []
    for code in codes:
        # A fresh browser each: its own cookies (unsafe: kept for an IP address host too).
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            pages, n, seconds = await _member(http, url.rstrip("/"), code, steps)
        totals.append(seconds)
        requests.append(n)
    totals.sort()
    return {
        "members": len(codes),
        "pages": pages,
        "requests": max(requests),
        "median": statistics.median(totals),
        "p90": totals[min(len(totals) - 1, int(0.9 * len(totals)))],
        "max": totals[-1],
        "steps": {k: statistics.median(v) for k, v in steps.items()},
    }


def run(args: argparse.Namespace) -> int:
    with args.codes.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    codes = [r["code"] for r in rows[args.skip : args.skip + args.members]]
    if len(codes) < args.members:
        raise CliError(f"{args.codes} has fewer than --skip + --members codes")
    out = asyncio.run(bench(args.url, codes))
    print(
        f"{out['members']} members, one after another: {out['pages']} pages and "
        f"{out['requests']} requests each (sign-in page, style sheet, script; code and "
        "redirect to the ballot; marks and redirect to the review; cast)"
    )
    print(
        f"code to receipt: median {out['median'] * 1000:.0f} ms, p90 {out['p90'] * 1000:.0f} ms,"
        f" max {out['max'] * 1000:.0f} ms"
    )
    for step, median in out["steps"].items():
        print(f"  {step}: median {median * 1000:.0f} ms")
    return 0
