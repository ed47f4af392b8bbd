"""An election's results in brief, and the comparison with its predecessor. Pure.

The **summary** (``GET /v1/elections/{e}/summary``, and the form a definition's
``predecessor.results`` imports; ``schemas/definition.schema.json#/$defs/summary``) gives, per
contest, each candidate's place, share and nominations, and turnout by contest and dimension:

- *votes*: the candidate's votes at the count's first round (bloc: the ballots marking them;
  STV: first preferences); *share*: votes / valid ballots, a decimal string with 4 decimals,
  rounded half up (``"0.3300"``); null when the contest went to no poll;
- *place*: the count's final place (the result's ``places``, docs/counting.md "Places and
  margins": the elected first, in order of election); for a document without ``places``,
  1 + the number of candidates with more votes (equal votes share a place); null when the
  contest went to no poll or the candidate was not on the ballot paper;
- *nominations*: the nominating bodies that nominated the candidate.

The **comparison** matches a candidate by id in the contest of the same id (then by name),
and says, in the seeds' words, "up 9.0% to 33.0%, two places up to 7th": the change in share
in percentage points and in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from counter.rules.margins import ordinal

SHARE_DECIMALS = 4
_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def fraction(text: Any) -> Fraction:
    """A number string of a result (``"7.5"``, ``"10/3"``) as a Fraction; 0 if it is none."""
    try:
        return Fraction(str(text))
    except (ValueError, ZeroDivisionError):
        return Fraction(0)


def share_text(share: Fraction) -> str:
    """``share`` as a decimal string of 4 decimals, rounded half up (exact arithmetic)."""
    scale = 10**SHARE_DECIMALS
    units = (share.numerator * scale * 2 + share.denominator) // (2 * share.denominator)
    return f"{units // scale}.{units % scale:0{SHARE_DECIMALS}d}"


def percent_text(share: Fraction) -> str:
    """A share as a percentage with one decimal, rounded half up: ``33.0%``."""
    tenths = (abs(share).numerator * 2000 + abs(share).denominator) // (2 * abs(share).denominator)
    return f"{tenths // 10}.{tenths % 10}%"


def _places(votes: Mapping[str, Fraction]) -> dict[str, int]:
    return {c: 1 + sum(1 for w in votes.values() if w > v) for c, v in votes.items()}


def contest_summary(
    definition: Mapping[str, Any],
    nominations: Mapping[str, Any] | None,
    document: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """One contest's summary from its nominations view and its result document."""
    rows = (nominations or {}).get("candidates", [])
    nominated = {r["candidate"]: int(r["nominations"]) for r in rows}
    names = {r["candidate"]: r["name"] for r in rows}  # every candidate, in definition order
    ids_by_name = {name: cid for cid, name in names.items()}
    rounds = (document or {}).get("rounds") or []
    first = rounds[0]["tallies"] if rounds else {}
    votes = {ids_by_name[n]: fraction(v) for n, v in first.items() if n in ids_by_name}
    valid = fraction((document or {}).get("valid_ballots", 0))
    final = (document or {}).get("places") or {}
    places = {ids_by_name[n]: int(p) for n, p in final.items() if n in ids_by_name} or _places(
        votes
    )
    elected = set((document or {}).get("elected_ids", []))
    candidates = []
    for cid, name in names.items():
        polled = cid in votes and valid > 0 and cid in places
        candidates.append(
            {
                "id": cid,
                "name": name,
                "place": places[cid] if polled else None,
                "share": share_text(votes[cid] / valid) if polled else None,
                "nominations": nominated.get(cid, 0),
                "elected": cid in elected,
            }
        )
    out: dict[str, Any] = {
        "title": definition.get("title", ""),
        "polled": int((document or {}).get("polled_seats", 1)) > 0,
        "bodies": int((nominations or {}).get("bodies", 0)),
        "nominations": sum(nominated.values()),
        "ballots": int(valid),
        "candidates": candidates,
    }
    return out


def summary(
    running: Mapping[str, Any], documents: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The election's summary from the counter's projection and its result documents."""
    definition = running.get("definition", {})
    contests = definition.get("contests", {})
    nominations = running.get("nominations", {})
    by_dimension = running.get("turnout_by_dimension", {})
    turnout = {}
    for cid, c in running.get("contests", {}).items():
        turnout[cid] = {
            "eligible": int(c.get("eligible", 0)),
            "cast": int(c.get("cast", 0)),
            "by": dict(by_dimension.get(cid, {}).get("by", {})),
            "eligible_by": dict(by_dimension.get(cid, {}).get("eligible_by", {})),
        }
    order = [c for c in definition.get("order") or contests if c in contests]
    return {
        "title": definition.get("title", ""),
        "contests": {
            cid: contest_summary(contests[cid], nominations.get(cid), documents.get(cid))
            for cid in order
        },
        "turnout": {cid: turnout[cid] for cid in sorted(turnout, key=_rank(order))},
    }


def _rank(order: list[str]) -> Any:
    """A sort key: the definition's order, then any other id by name."""
    rank = {c: i for i, c in enumerate(order)}
    return lambda c: (rank.get(c, len(rank)), c)


def _percent(share: Any) -> str | None:
    return None if share is None else percent_text(fraction(share))


def _count(n: int) -> str:
    return _WORDS[n] if n < len(_WORDS) else str(n)


def phrase(now: Mapping[str, Any], before: Mapping[str, Any] | None) -> str:
    """The change from ``before`` to ``now`` in words: "up 9.0% to 33.0%, two places up to
    7th"; "new" when the candidate did not stand last time."""
    if before is None:
        return "new"
    parts = []
    if now.get("share") is not None and before.get("share") is not None:
        s, p = fraction(now["share"]), fraction(before["share"])
        if s > p:
            parts.append(f"up {percent_text(s - p)} to {percent_text(s)}")
        elif s < p:
            parts.append(f"down {percent_text(p - s)} to {percent_text(s)}")
        else:
            parts.append(f"unchanged at {percent_text(s)}")
    if now.get("place") is not None and before.get("place") is not None:
        a, b = int(now["place"]), int(before["place"])
        if a < b:
            n = b - a
            parts.append(f"{_count(n)} place{'s' if n > 1 else ''} up to {ordinal(a)}")
        elif a > b:
            n = a - b
            parts.append(f"{_count(n)} place{'s' if n > 1 else ''} down to {ordinal(a)}")
        else:
            parts.append(f"still {ordinal(a)}")
    return ", ".join(parts) or "stood last time"


def _turnout(cast: Any, eligible: Any) -> Fraction | None:
    """Turnout as a fraction: ``cast`` of ``eligible``; None when either is unknown."""
    if cast is None or not eligible:
        return None
    return Fraction(int(cast), int(eligible))


def turnout_change(now: Fraction | None, before: Fraction | None) -> str:
    """A turnout against last time, in percentage points: "up 4.0% to 36.0%", "down 2.5% to
    30.0%", "unchanged at 31.0%"; "" when either is unknown."""
    if now is None or before is None:
        return ""
    if now > before:
        return f"up {percent_text(now - before)} to {percent_text(now)}"
    if now < before:
        return f"down {percent_text(before - now)} to {percent_text(now)}"
    return f"unchanged at {percent_text(now)}"


def count_change(now: int, before: int | None) -> str:
    """A count against last time: "+12", "-3" (with U+2212, the minus sign), "0"; "new"
    without one."""
    if before is None:
        return "new"
    delta = now - before
    return f"+{delta:,}" if delta > 0 else (f"\u2212{-delta:,}" if delta < 0 else "0")


def compare(current: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
    """Each contest's candidates against the previous election's, nominations and turnout by
    dimension against last time. Contests and candidates are matched by id, then by name.

    Turnout: each contest's and each group's ``percent`` (voted of eligible) now and last time
    with ``change`` in words; a group's eligible is the final turnout report's ``eligible_by``
    (null where the group is suppressed, and for a predecessor without it)."""
    contests = {}
    for cid, now in current.get("contests", {}).items():
        before = previous.get("contests", {}).get(cid) or {"candidates": []}
        by_id = {c["id"]: c for c in before.get("candidates", [])}
        by_name = {c["name"]: c for c in before.get("candidates", [])}
        rows = []
        for cand in now.get("candidates", []):
            old = by_id.get(cand["id"]) or by_name.get(cand["name"])
            rows.append(
                {
                    **cand,
                    "percent": _percent(cand.get("share")),
                    "previous": None
                    if old is None
                    else {
                        **{k: old.get(k) for k in ("place", "share", "nominations", "elected")},
                        "percent": _percent(old.get("share")),
                    },
                    "change": phrase(cand, old),
                    "nominations_change": count_change(
                        int(cand.get("nominations", 0)),
                        None if old is None else int(old.get("nominations", 0)),
                    ),
                }
            )
        contests[cid] = {
            "title": now.get("title", cid),
            "nominations": now.get("nominations", 0),
            "bodies": now.get("bodies", 0),
            "previous_nominations": before.get("nominations"),
            "previous_bodies": before.get("bodies"),
            "candidates": rows,
        }
    turnout = {}
    for cid, now in current.get("turnout", {}).items():
        before = previous.get("turnout", {}).get(cid, {})
        dims = {}
        for dim, values in now.get("by", {}).items():
            old = before.get("by", {}).get(dim, {})
            eligible = now.get("eligible_by", {}).get(dim, {})
            old_eligible = before.get("eligible_by", {}).get(dim, {})
            rows = []
            for value, n in sorted(values.items()):
                share = _turnout(n, eligible.get(value))
                old_share = _turnout(old.get(value), old_eligible.get(value))
                rows.append(
                    {
                        "value": value,
                        "cast": n,
                        "eligible": eligible.get(value),
                        "percent": None if share is None else percent_text(share),
                        "previous": old.get(value),
                        "previous_eligible": old_eligible.get(value),
                        "previous_percent": None if old_share is None else percent_text(old_share),
                        "change": turnout_change(share, old_share),
                    }
                )
            dims[dim] = rows
        # A contest that went to no poll (returned unopposed) had no turnout to compare.
        polled = current.get("contests", {}).get(cid, {}).get("polled", True)
        was_polled = previous.get("contests", {}).get(cid, {}).get("polled", True)
        share = _turnout(now.get("cast", 0), now.get("eligible", 0)) if polled else None
        old_share = _turnout(before.get("cast"), before.get("eligible")) if was_polled else None
        turnout[cid] = {
            "cast": now.get("cast", 0),
            "eligible": now.get("eligible", 0),
            "percent": None if share is None else percent_text(share),
            "previous_cast": before.get("cast"),
            "previous_eligible": before.get("eligible"),
            "previous_percent": None if old_share is None else percent_text(old_share),
            "polled": polled,
            "change": turnout_change(share, old_share) if polled else "no poll this time",
            "by": dims,
        }
    return {"title": previous.get("title", ""), "contests": contests, "turnout": turnout}
