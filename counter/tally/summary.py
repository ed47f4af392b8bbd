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
- *votes*: the first-round votes, exact (a decimal or ``p/q`` string), from which a
  comparison works out the share once, exactly; *polled*: whether the contest went to a
  poll (false when it was returned unopposed: its turnout is not compared);
- *nominations*: the nominating bodies that nominated the candidate; *status*: the result
  document's (``standing``, ``returned unopposed``, ``withdrawn``, ``not validly
  nominated``); a comparison says it instead of a change for those not on the paper.

The **comparison** matches a candidate by id in the contest of the same id (then by name),
and says, in the seeds' words, "up 9.0% to 33.0%, two places up to 7th": the change in share
in percentage points and in place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

from counter.rules.margins import ordinal
from counter.rules.report import decimal_string

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


def tenths(share: Fraction) -> int:
    """A share in tenths of a percent, rounded half up (exact arithmetic): 0.33333 -> 333."""
    return (abs(share).numerator * 2000 + abs(share).denominator) // (2 * abs(share).denominator)


def _tenths_text(n: int) -> str:
    return f"{n // 10}.{n % 10}%"


def percent_text(share: Fraction) -> str:
    """A share as a percentage with one decimal, rounded half up: ``33.0%``."""
    return _tenths_text(tenths(share))


def _percent(share: Fraction | None) -> str | None:
    """``percent_text``, or None for an unknown share."""
    return None if share is None else percent_text(share)


def moved(now: Fraction, before: Fraction) -> str:
    """A percentage against last time, worked out from the two figures as shown (one
    decimal each), so that the words agree with them: "up 9.2% to 33.3%" from 24.1% to 33.3%,
    "down 2.5% to 30.0%", "unchanged at 31.0%"."""
    a, b = tenths(now), tenths(before)
    if a > b:
        return f"up {_tenths_text(a - b)} to {_tenths_text(a)}"
    if a < b:
        return f"down {_tenths_text(b - a)} to {_tenths_text(a)}"
    return f"unchanged at {_tenths_text(a)}"


def share_of(candidate: Mapping[str, Any], ballots: Any) -> Fraction | None:
    """A candidate's share of the valid ballots, exact from its ``votes`` where the summary
    has them (so a percentage is rounded once), else its 4-decimal ``share``; None when it
    had none (no poll, not on the paper)."""
    if candidate.get("share") is None:
        return None
    if candidate.get("votes") is not None and ballots:
        return fraction(candidate["votes"]) / fraction(ballots)
    return fraction(candidate["share"])


def _places(votes: Mapping[str, Fraction]) -> dict[str, int]:
    return {c: 1 + sum(1 for w in votes.values() if w > v) for c, v in votes.items()}


def contest_summary(
    definition: Mapping[str, Any],
    nominations: Mapping[str, Any] | None,
    document: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """One contest's summary from its nominations view and its result document."""
    doc, view = document or {}, nominations or {}
    rows = view.get("candidates", [])
    nominated = {r["candidate"]: int(r["nominations"]) for r in rows}
    names = {r["candidate"]: r["name"] for r in rows}  # every candidate, in definition order
    ids_by_name = {name: cid for cid, name in names.items()}
    rounds = doc.get("rounds") or []
    first = rounds[0]["tallies"] if rounds else {}
    votes = {ids_by_name[n]: fraction(v) for n, v in first.items() if n in ids_by_name}
    valid = fraction(doc.get("valid_ballots", 0))
    final = doc.get("places") or {}
    places = {ids_by_name[n]: int(p) for n, p in final.items() if n in ids_by_name} or _places(
        votes
    )
    elected = set(doc.get("elected_ids", []))
    statuses = {c["name"]: c.get("status") for c in doc.get("candidates", [])}
    candidates = []
    for cid, name in names.items():
        polled = cid in votes and valid > 0 and cid in places
        candidates.append(
            {
                "id": cid,
                "name": name,
                "place": places[cid] if polled else None,
                "votes": decimal_string(votes[cid], None) if polled else None,
                "share": share_text(votes[cid] / valid) if polled else None,
                "nominations": nominated.get(cid, 0),
                "elected": cid in elected,
                "status": statuses.get(name) or "standing",
            }
        )
    return {
        "title": definition.get("title", ""),
        "polled": int(doc.get("polled_seats", 1)) > 0,
        "bodies": int(view.get("bodies", 0)),
        "nominations": sum(nominated.values()),
        "ballots": int(valid),  # a ledger's papers are whole
        "candidates": candidates,
    }


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
        "turnout": {cid: turnout[cid] for cid in sorted(turnout, key=rank(order))},
    }


def rank(order: Sequence[str]) -> Callable[[str], tuple[int, str]]:
    """A sort key for contest ids: the definition's order, then any other id by name."""
    at = {c: i for i, c in enumerate(order)}
    return lambda c: (at.get(c, len(at)), c)


def _count(n: int) -> str:
    return _WORDS[n] if n < len(_WORDS) else str(n)


def phrase(
    now: Mapping[str, Any],
    before: Mapping[str, Any] | None,
    shares: tuple[Fraction | None, Fraction | None] | None = None,
) -> str:
    """The change from ``before`` to ``now`` in words: "up 9.0% to 33.0%, two places up to
    7th"; "new" when the candidate did not stand last time. ``shares`` (now, before) are the
    exact shares where known (``share_of``), else the 4-decimal ``share`` strings are used."""
    if before is None:
        return "new"
    parts = []
    s, p = shares or (share_of(now, None), share_of(before, None))
    if s is not None and p is not None:
        parts.append(moved(s, p))
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


def _status_change(now: Mapping[str, Any], before: Mapping[str, Any] | None) -> str:
    """For a candidate not on this time's ballot paper, the words instead of a change:
    "returned unopposed", "not validly nominated", "withdrawn", with last time's place
    ("returned unopposed; 3rd last time"); "" for a candidate who stood in the poll."""
    status = now.get("status") or "standing"
    if status == "standing":
        return ""
    if before is None:
        return f"{status}; new"
    if before.get("place") is not None:
        return f"{status}; {ordinal(int(before['place']))} last time"
    return f"{status}; stood last time"


def _contest_ids(current: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, str]:
    """Each contest's id last time: the same id, else the contest of the same title."""
    then = previous.get("contests", {})
    by_title = {c.get("title"): pid for pid, c in then.items() if c.get("title")}
    out = {}
    for cid, now in current.get("contests", {}).items():
        pid = cid if cid in then else by_title.get(now.get("title"))
        if pid is not None:
            out[cid] = pid
    return out


def _match(candidate: Mapping[str, Any], before: list[Mapping[str, Any]]) -> Any:
    """The candidate's record last time: the same id and name; else the same name (an id
    may be reused for someone else); else the same id (a name may change)."""
    cid, name = candidate["id"], candidate["name"]
    for want_id, want_name in ((cid, name), (None, name), (cid, None)):
        for c in before:
            if want_id in (None, c.get("id")) and want_name in (None, c.get("name")):
                return c
    return None


def _polled(contest: Mapping[str, Any] | None) -> bool:
    """Whether a contest of a summary went to a poll: its ``polled``; for a summary without
    it (older counters), whether any candidate has a share; a contest it lacks: unknown,
    taken as polled."""
    if contest is None:
        return True
    if "polled" in contest:
        return bool(contest["polled"])
    return any(c.get("share") is not None for c in contest.get("candidates", []))


def _turnout(cast: Any, eligible: Any) -> Fraction | None:
    """Turnout as a fraction: ``cast`` of ``eligible``; None when either is unknown."""
    if cast is None or not eligible:
        return None
    return Fraction(int(cast), int(eligible))


def turnout_change(now: Fraction | None, before: Fraction | None) -> str:
    """A turnout against last time, in percentage points (``moved``): "up 4.0% to 36.0%";
    "" when either is unknown."""
    if now is None or before is None:
        return ""
    return moved(now, before)


def count_change(now: int, before: int | None) -> str:
    """A count against last time: "+12", "-3" (with U+2212, the minus sign), "0"; "new"
    without one."""
    if before is None:
        return "new"
    delta = now - before
    return f"+{delta:,}" if delta > 0 else (f"\u2212{-delta:,}" if delta < 0 else "0")


def compare(current: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
    """Each contest's candidates against the previous election's, nominations and turnout by
    dimension against last time. Contests are matched by id, then by title; candidates by id
    and name, then by name, then by id (``_match``).

    Turnout: each contest's and each group's ``percent`` (voted of eligible) now and last time
    with ``change`` in words; a group's eligible is the final turnout report's ``eligible_by``
    (null where the group is suppressed, and for a predecessor without it)."""
    contests = {}
    then = _contest_ids(current, previous)
    for cid, now in current.get("contests", {}).items():
        before = previous.get("contests", {}).get(then.get(cid, "")) or {"candidates": []}
        rows = []
        for cand in now.get("candidates", []):
            old = _match(cand, before.get("candidates", []))
            share = share_of(cand, now.get("ballots"))
            old_share = None if old is None else share_of(old, before.get("ballots"))
            rows.append(
                {
                    **cand,
                    "percent": _percent(share),
                    "previous": None
                    if old is None
                    else {
                        **{k: old.get(k) for k in ("place", "share", "nominations", "elected")},
                        "percent": _percent(old_share),
                    },
                    "change": _status_change(cand, old) or phrase(cand, old, (share, old_share)),
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
        before = previous.get("turnout", {}).get(then.get(cid, cid), {})
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
                        "percent": _percent(share),
                        "previous": old.get(value),
                        "previous_suppressed": value in old and old[value] is None,
                        "previous_eligible": old_eligible.get(value),
                        "previous_percent": _percent(old_share),
                        "change": turnout_change(share, old_share),
                    }
                )
            dims[dim] = rows
        # A contest that went to no poll (returned unopposed) had no turnout to compare.
        polled = _polled(current.get("contests", {}).get(cid))
        was_polled = _polled(previous.get("contests", {}).get(then.get(cid, cid)))
        share = _turnout(now.get("cast", 0), now.get("eligible", 0)) if polled else None
        old_share = _turnout(before.get("cast"), before.get("eligible")) if was_polled else None
        turnout[cid] = {
            "cast": now.get("cast", 0),
            "eligible": now.get("eligible", 0),
            "percent": _percent(share),
            "previous_cast": before.get("cast"),
            "previous_eligible": before.get("eligible"),
            "previous_percent": _percent(old_share),
            "polled": polled,
            "change": turnout_change(share, old_share) if polled else "no poll this time",
            "by": dims,
        }
    return {"title": previous.get("title", ""), "contests": contests, "turnout": turnout}
