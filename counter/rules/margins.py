"""How close it was: each candidate's final place, and the runner-up's margin, from a count.

Pure: a function of a :class:`~counter.rules.model.CountResult` alone (no ballots), exact
(``Fraction``), the same for every rule. docs/counting.md, "Places and margins", states it:

1. **Places.** Bloc: the poll's order (votes, then the lot that placed equal totals), elected
   or not. STV: the elected take places 1 to k in their order of election; the others follow,
   those still continuing when the count ended first (most votes first), then the excluded,
   the latest excluded first (excluded at the same stage: the one with more votes at the
   stage before first). Left over equal: the definition's order.
2. **The last seat** is seat number k (k elected); its holder is the elected candidate with
   the fewest votes in the poll (bloc) or the last elected (STV). Candidates returned unopposed
   before the poll hold the first seats and places; they are never the holder.
3. **The runner-up** is the best-placed candidate not elected (STV: place k + 1, k elected).
   Their margin is the votes they stood behind the holder of the last seat: bloc, in the
   poll; STV, at the *last stage where both were continuing*: the last stage after which the
   runner-up was still in the count and before which the holder of the last seat had not yet
   been elected (the tallies after that stage). A negative margin means the runner-up had
   more votes there and lost the seat all the same (a minimum, or a later transfer).
4. **Ties and minimums.** Every tie the runner-up was part of is stated with the votes they
   were level on, at which stage, and how it was broken (look-back to which stage, or the
   lot); so is every action of a minimum that kept them out.

No runner-up when no one is elected or no one stood unelected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from counter.rules.lot import Lot
from counter.rules.model import CountResult, Tie


@dataclass(frozen=True, slots=True, kw_only=True)
class TieNote:
    """A tie the runner-up was in: the level votes and the stage they were level after."""

    tie: Tie
    votes: Fraction
    stage: int
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Margin:
    """The runner-up against the holder of the last seat."""

    candidate: int
    place: int
    seat: int  # the last seat's number (the contest's seats, or the number elected if fewer)
    holder: int  # the candidate holding that seat
    stage: int  # the stage compared at (bloc: 1)
    votes: Fraction
    holder_votes: Fraction
    ties: tuple[TieNote, ...]

    @property
    def behind(self) -> Fraction:
        return self.holder_votes - self.votes


@dataclass(frozen=True, slots=True, kw_only=True)
class Places:
    """Every standing candidate's final place (None: withdrawn), and the runner-up's margin."""

    places: tuple[int | None, ...]
    runner_up: Margin | None


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 22nd, 101st, 111th."""
    if n % 100 in (11, 12, 13):
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def figure(value: Fraction, decimals: int | None) -> str:
    """A vote figure for reading: thousands separators; a whole number without decimals,
    otherwise at the rule's precision (truncated) or, for an exact rule, exactly."""
    from counter.rules.report import decimal_string, thousands

    return thousands(decimal_string(value, 0 if value.denominator == 1 else decimals))


def _names(result: CountResult, cs: tuple[int, ...] | list[int]) -> str:
    names = [result.candidates[c].name for c in cs]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _stv_order(result: CountResult) -> list[int]:
    """Standing candidates not elected, best placed first (clause 1, STV)."""
    out_at: dict[int, int] = {}
    for r in result.rounds:
        for c in r.excluded:
            out_at.setdefault(c, r.number)
    last = result.rounds[-1] if result.rounds else None
    elected = set(result.elected)

    def tally(stage: int, c: int) -> Fraction:
        if stage < 1 or last is None:
            return Fraction(0)
        v = result.rounds[stage - 1].tallies[c]
        return v if v is not None else Fraction(0)

    rest = [
        c
        for c in range(len(result.candidates))
        if not result.candidates[c].withdrawn and c not in elected
    ]
    final = len(result.rounds)

    def key(c: int) -> tuple[int, Fraction, int]:
        if c not in out_at:
            return (-(final + 1), -tally(final, c), c)
        stage = out_at[c]
        return (-stage, -tally(stage - 1, c), c)

    return sorted(rest, key=key)


def _bloc_order(result: CountResult) -> list[int]:
    """Standing candidates in the poll's order (clause 1, bloc): votes, then the lot's
    placing of equal totals (the bloc rule's own tickets, redrawn from the seed)."""
    rnd = result.rounds[0]
    standing = [c for c in range(len(result.candidates)) if rnd.tallies[c] is not None]
    level = len({rnd.tallies[c] for c in standing}) < len(standing)
    lot = (
        Lot(seed=bytes.fromhex(result.seed), names=tuple(c.name for c in result.candidates))
        if level and result.seed
        else None
    )

    def key(c: int) -> tuple[Fraction, bytes, int]:
        votes = rnd.tallies[c]
        assert votes is not None
        return (-votes, lot.ticket("bloc-order", 1, c) if lot else b"", c)

    return sorted(standing, key=key)


def _tie_note(result: CountResult, tie: Tie) -> TieNote:
    """A tie in words, with the votes the tied candidates were level on."""
    bloc = tie.kind == "bloc-order"
    # Surplus and exclusion ties compare the tallies after the stage before; election-order
    # ties the tallies after the stage itself; bloc ties the poll.
    stage = tie.round if bloc or tie.kind == "election-order" else max(1, tie.round - 1)
    votes = result.rounds[stage - 1].tallies[tie.chosen] or Fraction(0)
    level = f"{_names(result, list(tie.candidates))} were level on {figure(votes, result.decimals)}"
    where = "in the poll" if bloc else f"after stage {stage}"
    chosen = result.candidates[tie.chosen].name
    outcome = {
        "exclusion": f"{chosen} was excluded at stage {tie.round}",
        "surplus-order": f"{chosen}'s surplus went first at stage {tie.round}",
        "election-order": f"{chosen} was elected first at stage {tie.round}",
        "bloc-order": f"{chosen} was placed first",
    }.get(tie.kind, f"{chosen} was chosen at stage {tie.round}")
    how = f"by look-back to {tie.detail}" if tie.method == "look-back" else "by lot"
    back = re.fullmatch(r"stage (\d+)", tie.detail)
    if tie.method == "look-back" and back and 0 < int(back[1]) <= len(result.rounds):
        then = result.rounds[int(back[1]) - 1].tallies
        how += (
            " ("
            + ", ".join(
                f"{result.candidates[c].name} {figure(then[c] or Fraction(0), result.decimals)}"
                for c in tie.candidates
            )
            + ")"
        )
    return TieNote(tie=tie, votes=votes, stage=stage, text=f"{level} {where}; {outcome}, {how}")


def analyse(result: CountResult) -> Places:
    """Places and the runner-up's margin (the module docstring's clauses)."""
    n = len(result.candidates)
    bloc = result.rule == "bloc"
    if not result.rounds:
        return Places(places=(None,) * n, runner_up=None)
    if bloc:
        polled = _bloc_order(result)
        # Elected with no tally in the poll: returned unopposed before it, first in place.
        returned = [c for c in result.elected if result.rounds[0].tallies[c] is None]
        order = [*returned, *polled]
        rest = [c for c in polled if c not in result.elected]
    else:
        rest = _stv_order(result)
        order = [*result.elected, *rest]
    places: list[int | None] = [None] * n
    for i, c in enumerate(order):
        places[c] = i + 1
    if not result.elected or not rest:
        return Places(places=tuple(places), runner_up=None)
    runner = rest[0]
    if bloc:
        tallies = result.rounds[0].tallies
        won = [c for c in result.elected if tallies[c] is not None]
        if not won:  # every seat was returned unopposed or left vacant: no seat was polled
            return Places(places=tuple(places), runner_up=None)
        holder = min(won, key=lambda c: (tallies[c] or 0, -result.elected.index(c)))
        stage = 1
    else:
        holder = result.elected[-1]
        stage = _last_stage_both_continuing(result, runner, holder)
    tallies = result.rounds[stage - 1].tallies
    ties = tuple(_tie_note(result, t) for t in result.ties if runner in t.candidates)
    return Places(
        places=tuple(places),
        runner_up=Margin(
            candidate=runner,
            place=places[runner] or len(result.elected) + 1,
            seat=len(result.elected),
            holder=holder,
            stage=stage,
            votes=tallies[runner] or Fraction(0),
            holder_votes=tallies[holder] or Fraction(0),
            ties=ties,
        ),
    )


def _last_stage_both_continuing(result: CountResult, runner: int, holder: int) -> int:
    """The last stage after which ``runner`` was still in the count and before which
    ``holder`` had not been elected (clause 3)."""
    best = 1
    runner_in, holder_waiting = True, True
    for r in result.rounds:
        if runner in r.excluded:
            runner_in = False
        if runner_in and holder_waiting:
            best = r.number
        if holder in r.elected:
            holder_waiting = False
    return best


def text(result: CountResult, margin: Margin) -> str:
    """The runner-up's margin in words: "Cat, 8th, 246 behind the 6th seat (Ann) ..."."""
    d = result.decimals
    name = result.candidates[margin.candidate].name
    holder = result.candidates[margin.holder].name
    where = "" if result.rule == "bloc" else f" at stage {margin.stage}"
    figures = f"{figure(margin.votes, d)} to {figure(margin.holder_votes, d)}"
    gap = margin.behind
    if gap > 0:
        how = f"{figure(gap, d)} behind the {ordinal(margin.seat)} seat ({holder}){where}"
    elif gap == 0:
        how = f"level with the {ordinal(margin.seat)} seat ({holder}){where}"
    else:
        how = f"{figure(-gap, d)} ahead of the {ordinal(margin.seat)} seat ({holder}){where}"
    words = f"{name}, {ordinal(margin.place)}, {how}: {figures}"
    return "; ".join(
        [words, *minimum_notes(result, margin.candidate), *(t.text for t in margin.ties)]
    )


def minimum_notes(result: CountResult, candidate: int) -> list[str]:
    """How a minimum kept ``candidate`` out, in words (clause 4's companion)."""
    out = []
    for a in result.constraint_actions:
        if candidate not in a.candidates:
            continue
        if a.action == "replaced" and a.candidates[0] == candidate:
            out.append(f"displaced by the minimum {a.constraint}")
        elif a.action == "excluded":
            out.append(f"excluded at stage {a.round} under the minimum {a.constraint}")
        elif a.action == "not-elected":
            out.append(f"not elected at stage {a.round} under the minimum {a.constraint}")
    return out
