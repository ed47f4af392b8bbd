"""The shared engine of the Gregory-family STV rules (Scottish, ERS97, parameterised).

One engine, many rule books: :class:`StvParams` says which quota, which papers a
surplus examines, how a transfer value is computed, how exclusions proceed,
whether surpluses may be deferred, and in which direction ties look back.  The
rule modules (:mod:`counter.rules.scottish`, :mod:`counter.rules.ers97`,
:mod:`counter.rules.custom`) fix those choices and cite their clauses; this
module cites them too where a choice is implemented.

Arithmetic is exact.  With a fixed precision of ``d`` decimals every value is an
integer number of ``10**-d`` units (so truncation "to five decimal places, any
remainder being ignored" is an integer floor division); with no fixed precision
values are ``Fraction`` s.  No floating point is used anywhere.

Speed: identical rankings are grouped, and the distinct rankings are sorted, so
the rankings sharing any prefix form one contiguous run.  Papers that share the
prefix up to their current candidate have had the same history, so they always
sit in the same parcel at the same value: the engine moves *bundles* (a prefix
and its run of rankings, weighted by the voters in it), never papers.  At the
first stage there is one bundle per candidate; a transfer splits a bundle by the
next preference (found by binary search in the run).  The cost depends on the
distinct prefixes that are ever moved, not on the number of voters.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import accumulate
from operator import itemgetter

from counter.errors import ProfileError, RuleSpecError
from counter.rules import constraints as cons
from counter.rules.lot import Lot
from counter.rules.model import (
    Candidate,
    Constraint,
    ConstraintAction,
    CountResult,
    Profile,
    Round,
    Tie,
    empty_note,
)

Value = int | Fraction

HOPEFUL, ELECTED, EXCLUDED, WITHDRAWN = 0, 1, 2, 3

QUOTAS = ("droop", "droop-exact", "ers97", "hare")


@dataclass(frozen=True, slots=True, kw_only=True)
class StvParams:
    """Every choice a Gregory-family STV rule book makes."""

    name: str
    title: str
    decimals: int | None  # values are multiples of 10**-decimals; None: exact fractions
    quota: str  # one of QUOTAS
    elect_at: str = "geq"  # "geq": votes >= quota elects; "gt": votes > quota
    surplus_papers: str = "all"  # "all" (inclusive) | "last-batch" (ERS97 5.3.2)
    transfer_value: str = "inclusive"  # "inclusive": S*v/T | "per-paper": S/papers (ERS97 5.3.7)
    exclusion: str = "single"  # "single": one transfer | "batches" (ERS97 5.4, by value)
    bulk_exclusion: bool = False  # ERS97 5.2.5
    defer_surpluses: bool = False  # ERS97 5.2.2
    lookback: str = "recent"  # "recent" (Scottish 49(2), 51(2)) | "earliest" (ERS97 5.2.3)
    active_vote_election: bool = False  # ERS97 5.1.7(b)
    recompute_quota: bool = False  # ERS97 5.4.8
    last_vacancies_without_transfer: bool = False  # ERS97 5.5.1

    def __post_init__(self) -> None:
        if self.quota not in QUOTAS:
            raise RuleSpecError(f"unknown quota {self.quota!r}; known: {', '.join(QUOTAS)}")
        if self.elect_at not in ("geq", "gt"):
            raise RuleSpecError("elect_at must be 'geq' or 'gt'")
        if self.surplus_papers not in ("all", "last-batch"):
            raise RuleSpecError("surplus_papers must be 'all' or 'last-batch'")
        if self.transfer_value not in ("inclusive", "per-paper"):
            raise RuleSpecError("transfer_value must be 'inclusive' or 'per-paper'")
        if self.exclusion not in ("single", "batches"):
            raise RuleSpecError("exclusion must be 'single' or 'batches'")
        if self.lookback not in ("recent", "earliest"):
            raise RuleSpecError("lookback must be 'recent' or 'earliest'")
        if self.decimals is not None and not 0 <= self.decimals <= 18:
            raise RuleSpecError("decimals must be between 0 and 18, or exact")

    @property
    def per_paper(self) -> bool:
        """Whether every paper's value follows from its own alone, in fixed-point units:
        all papers of a surplus at the inclusive value, exclusions in one stage (the
        count :mod:`counter.rules.packed` runs on arrays)."""
        return (
            self.decimals is not None
            and self.surplus_papers == "all"
            and self.transfer_value == "inclusive"
            and self.exclusion == "single"
        )


@dataclass(slots=True)
class Prepared:
    """A profile made ready for counting: withdrawn candidates and repeats removed."""

    candidates: tuple[Candidate, ...]
    rankings: list[tuple[int, ...]]
    cum: list[int]  # cum[i]: voters in rankings[:i]
    valid: int
    invalid: int


def prepare(profile: Profile) -> Prepared:
    """Drop withdrawn candidates and repeated preferences; group identical rankings.

    A ballot left with no preference for a standing candidate is invalid: it is
    not part of the valid poll (it counts towards neither quota nor tallies).
    """
    n = len(profile.candidates)
    standing = [not c.withdrawn for c in profile.candidates]
    ballots = profile.ballots
    if all(standing) and (profile.grouped or _clean(ballots, n)) and (not ballots or ballots[0][0]):
        # Fast path: a grouped, sorted profile with no repeats needs no rewriting.
        cum = list(accumulate(map(itemgetter(1), ballots), initial=0))
        return Prepared(
            candidates=profile.candidates,
            rankings=list(map(itemgetter(0), ballots)),
            cum=cum,
            valid=cum[-1],
            invalid=0,
        )
    totals: dict[tuple[int, ...], int] = {}
    invalid = 0
    for ranking, weight in ballots:
        if weight < 0:
            raise ProfileError(f"negative ballot weight {weight}")
        seen: set[int] = set()
        clean: list[int] = []
        for c in ranking:
            if not 0 <= c < n:
                raise ProfileError(f"ranking refers to candidate {c + 1}, but there are {n}")
            if standing[c] and c not in seen:
                seen.add(c)
                clean.append(c)
        if not clean:
            invalid += weight
            continue
        key = tuple(clean)
        totals[key] = totals.get(key, 0) + weight
    items = sorted((r, w) for r, w in totals.items() if w)
    return Prepared(
        candidates=profile.candidates,
        rankings=[r for r, _ in items],
        cum=[0, *accumulate(w for _, w in items)],
        valid=sum(w for _, w in items),
        invalid=invalid,
    )


def _clean(ballots: Sequence[tuple[tuple[int, ...], int]], n: int) -> bool:
    """Sorted, distinct, non-empty rankings of valid indices, no repeats, positive weights."""
    previous: tuple[int, ...] = ()
    for ranking, weight in ballots:
        if weight <= 0 or not ranking or ranking <= previous:
            return False
        if len(set(ranking)) != len(ranking) or min(ranking) < 0 or max(ranking) >= n:
            return False
        previous = ranking
    return True


class _Count:
    """The mutable state of one count; :func:`count_stv` is the pure entry point."""

    def __init__(
        self,
        params: StvParams,
        prep: Prepared,
        seats: int,
        constraints: Sequence[Constraint],
        lot: Lot,
    ) -> None:
        self.p = params
        self.prep = prep
        self.cands = prep.candidates
        self.n = len(self.cands)
        self.seats = seats
        self.constraints = tuple(constraints)
        self.lot = lot
        self.exact = params.decimals is None
        self.scale: int = 1 if params.decimals is None else 10**params.decimals
        self.state = [WITHDRAWN if c.withdrawn else HOPEFUL for c in self.cands]
        self.tally: list[Value] = [0] * self.n
        self.holding: list[list[int]] = [[] for _ in range(self.n)]
        self.last_batch = [0] * self.n
        self.first_stage_surplus = [False] * self.n
        self.surplus_done = [False] * self.n
        self.elected: list[int] = []
        self.exhausted: Value = 0
        self.rounds: list[Round] = []
        self.ties: list[Tie] = []
        self.actions: list[ConstraintAction] = []
        self.history: list[tuple[Value, ...]] = []  # look-back snapshots
        self.batch_counter = 0
        self.round_number = 0
        self.round_elected: list[int] = []
        self.round_excluded: list[int] = []
        self.round_notes: list[str] = []
        self.rank = prep.rankings
        self.cum = prep.cum  # voters in rankings[lo:hi]: cum[hi] - cum[lo]
        self.keys = [itemgetter(d) for d in range(self.n)]  # a ranking has at most n places
        # Bundles: papers sharing rankings[lo][:depth], held by rankings[lo][depth - 1].
        self.b_depth: list[int] = []
        self.b_lo: list[int] = []
        self.b_hi: list[int] = []
        self.cnt: list[int] = []
        self.val: list[Value] = []
        self.batch: list[int] = []
        self.total_valid: Value = prep.valid * self.scale
        self.quota: Value = self.compute_quota(self.total_valid)

    # -- arithmetic ---------------------------------------------------------------

    def div_down(self, a: Value, b: Value) -> Value:
        """a / b, truncated to the rule's precision (exact when there is none)."""
        if self.exact:
            return Fraction(a) / b
        assert isinstance(a, int) and isinstance(b, int)
        return a // b

    def div_up(self, a: Value, b: Value) -> Value:
        if self.exact:
            return Fraction(a) / b
        assert isinstance(a, int) and isinstance(b, int)
        return -((-a) // b)

    def compute_quota(self, total: Value) -> Value:
        s = self.seats
        q = self.p.quota
        if q == "droop":
            # Scottish rule 46: valid papers / (seats + 1), decimals ignored, plus one.
            whole = self.div_down(total, self.scale) if not self.exact else total
            return (int(whole // (s + 1)) + 1) * self.scale
        if q == "droop-exact":
            return self.div_down(total, s + 1)
        if q == "ers97":
            # ERS97 5.1.6: to two decimals; if not exact, ignore the remainder and add 0.01.
            return self.div_up(total, s + 1)
        return self.div_down(total, s)  # hare: valid / seats

    def reached(self, c: int) -> bool:
        t = self.tally[c]
        return t >= self.quota if self.p.elect_at == "geq" else t > self.quota

    def frac(self, v: Value) -> Fraction:
        return Fraction(v) if self.exact else Fraction(v, self.scale)

    # -- candidates ---------------------------------------------------------------

    def hopeful(self) -> list[int]:
        return [c for c in range(self.n) if self.state[c] == HOPEFUL]

    def vacancies(self) -> int:
        return self.seats - len(self.elected)

    def destinations(self, depth: int, lo: int, hi: int) -> list[tuple[int, int, int, int]]:
        """Where the papers of rankings[lo:hi] (sharing ``depth`` preferences) go next.

        Each destination is ``(candidate, depth, lo, hi)``: the next continuing
        preference and the run of rankings that give it; papers with no further
        continuing preference are left out (they are non-transferable).
        """
        rank, state, keys = self.rank, self.state, self.keys
        out: list[tuple[int, int, int, int]] = []
        stack = [(depth, lo, hi)]
        while stack:
            d, lo, hi = stack.pop()
            if lo < hi and len(rank[lo]) == d:
                lo += 1  # the one ranking that ends here
            while lo < hi:
                c = rank[lo][d]
                end = bisect_right(rank, c, lo, hi, key=keys[d])
                if state[c] == HOPEFUL:
                    out.append((c, d + 1, lo, end))
                else:
                    stack.append((d + 1, lo, end))
                lo = end
        return out

    def bundle_destinations(self, b: int) -> list[tuple[int, int, int, int]]:
        return self.destinations(self.b_depth[b], self.b_lo[b], self.b_hi[b])

    # -- ties ---------------------------------------------------------------------

    def break_tie(self, tied: list[int], kind: str, highest: bool) -> int:
        """Pick one of ``tied``: the rule's look-back first, then the seeded lot.

        ``highest``: the candidate with the most votes at the decisive earlier point
        is picked (surplus order, election order); otherwise the fewest (exclusion).
        """
        if len(tied) == 1:
            return tied[0]
        group = sorted(tied)
        points = list(range(len(self.history)))
        if self.p.lookback == "recent":
            points.reverse()  # Scottish 49(2), 51(2)(a): most recent preceding stage
        for i in points:
            snap = self.history[i]
            best = max(snap[c] for c in group) if highest else min(snap[c] for c in group)
            narrowed = [c for c in group if snap[c] == best]
            if len(narrowed) < len(group):
                group = narrowed
                if len(group) == 1:
                    self.record_tie(tied, kind, "look-back", group[0], f"point {i + 1}")
                    return group[0]
        # Scottish 49(3), 51(2)(b); ERS97 5.2.3, 5.2.5: decided by lot.
        chosen = self.lot.draw(kind, self.round_number, group)
        self.record_tie(tied, kind, "lot", chosen, "among " + ", ".join(self.names(group)))
        return chosen

    def record_tie(self, tied: list[int], kind: str, method: str, chosen: int, how: str) -> None:
        where = "stage" if self.p.lookback == "recent" else "point"
        detail = how.replace("point", where) if method == "look-back" else how
        self.ties.append(
            Tie(
                round=self.round_number,
                kind=kind,
                candidates=tuple(sorted(tied)),
                method=method,
                chosen=chosen,
                detail=detail,
            )
        )

    def names(self, cs: Sequence[int]) -> list[str]:
        return [self.cands[c].name for c in cs]

    def order_by_votes(self, cs: list[int], kind: str) -> list[int]:
        """Descending votes; equal votes ordered by the tie rule."""
        out: list[int] = []
        rest = list(cs)
        while rest:
            top = max(self.tally[c] for c in rest)
            tied = [c for c in rest if self.tally[c] == top]
            pick = self.break_tie(tied, kind, highest=True)
            out.append(pick)
            rest.remove(pick)
        return out

    # -- transfers ----------------------------------------------------------------

    def place(self, dests: list[tuple[int, int, int, int]], v: Value, batch: int) -> Value:
        """Create a bundle at value ``v`` per paper for each destination; the value credited."""
        credited: Value = 0
        tally, cum = self.tally, self.cum
        for c, d, lo, hi in dests:
            n = cum[hi] - cum[lo]
            amount = v * n
            tally[c] += amount
            credited += amount
            self.holding[c].append(len(self.cnt))
            self.b_depth.append(d)
            self.b_lo.append(lo)
            self.b_hi.append(hi)
            self.cnt.append(n)
            self.val.append(v)
            self.batch.append(batch)
            self.last_batch[c] = batch
        return credited

    def move(self, bundles: list[int], values: list[Value], batch: int) -> Value:
        """Send each bundle at its new value to the next continuing preferences.

        Returns the value credited to continuing candidates.
        """
        credited: Value = 0
        for b, v in zip(bundles, values, strict=True):
            credited += self.place(self.bundle_destinations(b), v, batch)
        return credited

    def new_batch(self) -> int:
        self.batch_counter += 1
        return self.batch_counter

    # -- stages -------------------------------------------------------------------

    def snapshot(self) -> None:
        self.history.append(tuple(self.tally))

    def begin_round(self) -> None:
        self.round_number += 1
        self.round_elected = []
        self.round_excluded = []
        self.round_notes = []
        self.prev_tallies = tuple(self.tally)
        self.prev_exhausted = self.exhausted

    def end_round(self, action: str, subjects: Sequence[int]) -> None:
        tallies = tuple(
            None if self.state[c] == WITHDRAWN else self.frac(self.tally[c]) for c in range(self.n)
        )
        transfers = tuple(
            None if self.state[c] == WITHDRAWN else self.frac(self.tally[c] - self.prev_tallies[c])
            for c in range(self.n)
        )
        self.rounds.append(
            Round(
                number=self.round_number,
                action=action,
                subjects=tuple(subjects),
                tallies=tallies,
                transfers=transfers,
                exhausted=self.frac(self.exhausted),
                exhausted_change=self.frac(self.exhausted - self.prev_exhausted),
                quota=self.frac(self.quota),
                elected=tuple(self.round_elected),
                excluded=tuple(self.round_excluded),
                notes=tuple(self.round_notes),
            )
        )
        self.snapshot()

    def amend_last_round(self) -> None:
        last = self.rounds[-1]
        self.rounds[-1] = Round(
            number=last.number,
            action=last.action,
            subjects=last.subjects,
            tallies=last.tallies,
            transfers=last.transfers,
            exhausted=last.exhausted,
            exhausted_change=last.exhausted_change,
            quota=last.quota,
            elected=last.elected + tuple(self.round_elected),
            excluded=last.excluded + tuple(self.round_excluded),
            notes=last.notes + tuple(self.round_notes),
        )

    def elect(self, c: int, why: str) -> None:
        self.state[c] = ELECTED
        self.elected.append(c)
        self.round_elected.append(c)
        self.round_notes.append(f"{self.cands[c].name} elected ({why})")

    def exclude(self, c: int, why: str) -> None:
        self.state[c] = EXCLUDED
        self.round_excluded.append(c)
        self.round_notes.append(f"{self.cands[c].name} excluded ({why})")

    def active_threshold_reached(self, c: int) -> bool:
        """ERS97 5.1.7(b): votes >= total active vote / (places unfilled + 1)."""
        active = self.total_valid - self.exhausted
        for e in self.elected:
            active -= min(self.quota, self.tally[e])
        return bool(self.tally[c] * (self.vacancies() + 1) >= active)

    def elect_reaching_quota(self) -> None:
        """Scottish 47(1); ERS97 5.1.7, 5.3.13, 5.4.9: elect those at the quota."""
        if self.vacancies() <= 0:
            return
        reaching = [c for c in self.hopeful() if self.reached(c)]
        if self.p.active_vote_election and self.elected:
            reaching += [
                c for c in self.hopeful() if c not in reaching and self.active_threshold_reached(c)
            ]
        if not reaching:
            return
        for c in self.order_by_votes(reaching, "election-order"):
            if self.vacancies() <= 0:
                break
            if self.constraints and not cons.electable(
                self.constraints, self.cands, self.elected, self.hopeful(), self.vacancies(), c
            ):
                self.act(
                    "not-elected",
                    [c],
                    "reached the quota, but electing them would leave a minimum unattainable",
                )
                continue
            self.elect(c, "reached the quota" if self.reached(c) else "active-vote threshold")
            if self.tally[c] <= self.quota:
                self.surplus_done[c] = True
            if self.round_number == 1:
                self.first_stage_surplus[c] = True

    def act(self, action: str, cs: Sequence[int], detail: str) -> None:
        label = "; ".join(c.label() for c in self.constraints)
        self.actions.append(
            ConstraintAction(
                round=self.round_number,
                constraint=label,
                action=action,
                candidates=tuple(cs),
                detail=detail,
            )
        )
        self.round_notes.append(f"constraint {label}: {', '.join(self.names(cs))} {detail}")

    def surplus(self, c: int) -> Value:
        return self.tally[c] - self.quota

    def pending_surpluses(self) -> list[int]:
        return [c for c in self.elected if not self.surplus_done[c] and self.tally[c] > self.quota]

    def transfer_surplus(self, c: int) -> None:
        """Scottish 48; ERS97 5.3: one surplus, as one stage."""
        s = self.surplus(c)
        holding = self.holding[c]
        if self.p.surplus_papers == "last-batch" and not self.first_stage_surplus[c]:
            # ERS97 5.3.2: only the last received batch, which gave rise to the surplus.
            papers = [g for g in holding if self.batch[g] == self.last_batch[c]]
        else:
            # Scottish 48(1); ERS97 5.3.1: all the papers the candidate holds.
            papers = list(holding)
        batch = self.new_batch()
        if self.p.transfer_value == "inclusive":
            total = self.tally[c]
            # Scottish 48(3)-(4): value = surplus x value of the paper / total votes,
            # to five decimal places, any remainder being ignored.
            values = [self.div_down(s * self.val[g], total) for g in papers]
        else:
            n_papers = 0
            worth: Value = 0
            for g in papers:
                going = sum(
                    self.cum[hi] - self.cum[lo] for _, _, lo, hi in self.bundle_destinations(g)
                )
                n_papers += going
                worth += self.val[g] * going
            if worth > s and n_papers:
                # ERS97 5.3.7: surplus / transferable papers, two decimals, remainder ignored.
                tv = self.div_down(s, n_papers)
                values = [tv] * len(papers)
            else:
                values = [self.val[g] for g in papers]  # ERS97 5.3.7: present value
        moving = set(papers)
        kept = [g for g in holding if g not in moving] if len(papers) < len(holding) else []
        credited = self.move(papers, values, batch)
        self.holding[c] = kept
        self.tally[c] = self.quota
        # Scottish 48(1)(b); ERS97 5.3.9: the non-transferable difference.
        self.exhausted += s - credited
        self.surplus_done[c] = True

    def transfer_excluded(self, excluded: list[int]) -> None:
        """Scottish 50(2)-(4): all papers at once; ERS97 5.4: batch by batch."""
        papers = [g for c in excluded for g in self.holding[c]]
        removed: Value = sum((self.tally[c] for c in excluded), start=0)
        for c in excluded:
            self.holding[c] = []
            self.tally[c] = 0
        if self.p.exclusion == "single":
            credited = self.move(papers, [self.val[g] for g in papers], self.new_batch())
            self.exhausted += removed - credited
            return
        # ERS97 5.4.1-5.4.11: batches in descending order of transfer value.
        by_value: dict[Value, list[int]] = {}
        for g in papers:
            by_value.setdefault(self.val[g], []).append(g)
        for v in sorted(by_value, reverse=True):
            batch_papers = by_value[v]
            worth = sum((v * self.cnt[g] for g in batch_papers), start=0)
            credited = self.move(batch_papers, [v] * len(batch_papers), self.new_batch())
            self.exhausted += worth - credited
            removed -= worth
            if self.p.recompute_quota and not self.elected and worth != credited:
                # ERS97 5.4.8: recalculate the quota ignoring the non-transferable vote.
                self.quota = self.compute_quota(self.total_valid - self.exhausted)
            self.snapshot()  # ERS97 5.2.3: "after the transfer of a batch of papers"
            self.elect_reaching_quota()  # ERS97 5.4.9-5.4.10
        self.exhausted += removed  # a rounding residue, if any (none: values are exact)

    def choose_exclusion(self) -> list[int]:
        """Scottish 50(1), 51; ERS97 5.2.5: the candidate(s) with the fewest votes."""
        hopeful = self.hopeful()
        candidates, shielded = cons.exclusion_pool(
            self.constraints, self.cands, self.elected, hopeful, self.vacancies(), self.tally
        )
        if shielded:
            self.act("protected", shielded, "not excluded: needed to meet a minimum")
        low = min(self.tally[c] for c in candidates)
        tied = [c for c in candidates if self.tally[c] == low]
        first = self.break_tie(tied, "exclusion", highest=False)
        chosen = [first]
        if self.p.bulk_exclusion:
            deferred = sum((self.surplus(c) for c in self.pending_surpluses()), start=0)
            ranked = sorted((c for c in candidates if c != first), key=lambda c: (self.tally[c], c))
            ordered = [first, *ranked]
            best = 1
            for k in range(2, len(ordered)):
                # 5.2.5(a): enough candidates remain; (b) the k lowest plus deferred
                # surpluses do not exceed the candidate next above.
                if len(hopeful) - k < self.vacancies():
                    break
                lowest = sum((self.tally[c] for c in ordered[:k]), start=0)
                above = self.tally[ordered[k]]
                if self.tally[ordered[k - 1]] < above and lowest + deferred <= above:
                    best = k
            chosen = ordered[:best]
        return chosen

    def should_defer(self, pending: list[int]) -> bool:
        """ERS97 5.2.2: defer surpluses too small to change who is excluded."""
        total = sum((self.surplus(c) for c in pending), start=0)
        hopeful = sorted(self.hopeful(), key=lambda c: self.tally[c])
        if len(hopeful) < 2:
            return False
        diff_a = self.tally[hopeful[1]] - self.tally[hopeful[0]]
        diff_b: Value = 0
        running: Value = 0
        for k in range(len(hopeful) - 1):
            running += self.tally[hopeful[k]]
            if k >= 1 and len(hopeful) - (k + 1) >= self.vacancies():
                diff_b = max(diff_b, self.tally[hopeful[k + 1]] - running)
        return bool(total <= max(diff_a, diff_b))

    # -- the count ----------------------------------------------------------------

    def first_preferences(self) -> None:
        """Scottish 45; ERS97 5.1: each paper to its first continuing preference."""
        self.place(self.destinations(0, 0, len(self.rank)), self.scale, 0)

    def run(self) -> None:
        # Scottish 45; ERS97 5.1: first preferences.
        self.begin_round()
        self.first_preferences()
        if self.prep.valid == 0:
            # docs/counting.md, "Empty contests": no valid ballot (or no candidate standing):
            # no one is elected, not even by lot, and every seat stays vacant.
            self.round_notes.append(empty_note(0, self.cands))
            self.end_round("first-preferences", ())
            return
        self.elect_reaching_quota()
        self.end_round("first-preferences", ())
        while self.vacancies() > 0:
            hopeful = self.hopeful()
            if len(hopeful) <= self.vacancies():
                # Scottish 52: continuing candidates = vacancies: all deemed elected,
                # no further transfer.  ERS97 5.5.1 likewise.
                self.round_elected, self.round_excluded, self.round_notes = [], [], []
                for c in self.order_by_votes(hopeful, "election-order"):
                    self.elect(c, "last vacancies")
                self.amend_last_round()
                break
            if self.constraints:
                doomed = [
                    c
                    for c in hopeful
                    if not cons.electable(
                        self.constraints, self.cands, self.elected, hopeful, self.vacancies(), c
                    )
                ]
                if doomed:
                    self.begin_round()
                    self.act(
                        "excluded",
                        doomed,
                        "excluded: their election would leave a minimum unattainable",
                    )
                    for c in doomed:
                        self.exclude(c, "minimum representation")
                    self.transfer_excluded(doomed)
                    self.elect_reaching_quota()
                    self.end_round("constraint-exclusion", doomed)
                    continue
            pending = self.pending_surpluses()
            if pending and not (self.p.defer_surpluses and self.should_defer(pending)):
                # Scottish 49(1): the highest surplus first; 49(2)-(3) ties.
                top = max(self.surplus(c) for c in pending)
                tied = [c for c in pending if self.surplus(c) == top]
                self.begin_round()
                c = self.break_tie(tied, "surplus-order", highest=True)
                self.transfer_surplus(c)
                self.elect_reaching_quota()
                self.end_round("surplus", (c,))
                continue
            self.begin_round()
            ties_before = len(self.ties)
            chosen = self.choose_exclusion()
            if (
                self.p.last_vacancies_without_transfer
                and len(hopeful) - len(chosen) == self.vacancies()
            ):
                # ERS97 5.5.1: the proposed exclusion leaves as many continuing
                # candidates as places: they are deemed elected, nothing is transferred.
                for c in chosen:
                    self.exclude(c, "fewest votes")
                self.round_number -= 1
                self.ties[ties_before:] = [
                    replace(t, round=self.round_number) for t in self.ties[ties_before:]
                ]
                for c in self.order_by_votes(self.hopeful(), "election-order"):
                    self.elect(c, "last vacancies")
                self.amend_last_round()
                break
            for c in chosen:
                self.exclude(c, "fewest votes")
            self.transfer_excluded(chosen)
            self.elect_reaching_quota()
            self.end_round("exclusion", chosen)

    def result(self) -> CountResult:
        return CountResult(
            rule=self.p.name,
            rule_title=self.p.title,
            candidates=self.cands,
            seats=self.seats,
            valid_ballots=self.prep.valid,
            invalid_ballots=self.prep.invalid,
            quota=self.rounds[0].quota,
            decimals=self.p.decimals,
            elected=tuple(self.elected),
            rounds=tuple(self.rounds),
            ties=tuple(self.ties),
            constraint_actions=tuple(self.actions),
            seed=self.lot.known_seed(),
        )


def count_stv(
    params: StvParams,
    profile: Profile,
    seats: int,
    constraints: Sequence[Constraint],
    seed: bytes | None,
) -> CountResult:
    """Count ``profile`` for ``seats`` under ``params``; pure and deterministic."""
    prep = prepare(profile)
    if seats < 1:
        raise ProfileError("at least one seat is needed")
    if constraints:
        cons.validate(constraints, prep.candidates, seats)
    lot = Lot(seed=seed, names=tuple(c.name for c in prep.candidates), profile=profile)
    state = _Count(params, prep, seats, constraints, lot)
    state.run()
    return state.result()


RuleFunction = Callable[[Profile, int, Sequence[Constraint], bytes | None], CountResult]
