"""The ballot as a member sees it: which contests, which candidates, and the form's rules.

Pure: built from the election's public state (the definition with its candidates'
statements, who stands, who withdrew) and the member's roll attributes. A member sees only the
contests whose eligibility rule admits them (``ledger.domain.election.eligible``), and in each
only the candidates standing. The form is read back with ``read_form``, which returns the
selections the ledger will accept, or errors in plain words, each tied to the field at fault.

Form fields: a bloc contest ``C`` is check boxes named ``bloc-C`` whose values are candidate ids;
an STV contest's candidate ``X`` has a select named ``rank-C-X`` whose value is a rank (1, 2, …)
or empty. A contest left blank is not voted in (an abstention), which the ledger allows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.domain import election as el


@dataclass(frozen=True, slots=True, kw_only=True)
class CandidateView:
    id: str
    name: str
    slate: str | None
    statement: tuple[str, ...]
    """The statement's paragraphs."""
    field: str
    """The form field's id and name (bloc: the box's id; STV: the select's)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ContestView:
    id: str
    title: str
    method: str
    seats: int
    min_selections: int
    max_selections: int
    candidates: tuple[CandidateView, ...]

    @property
    def field(self) -> str:
        """The id of the contest's first control (where an error summary links to)."""
        return self.candidates[0].field

    @property
    def instructions(self) -> str:
        """What the member must do, in plain words."""
        seats = f"{self.seats} seat{'s' if self.seats != 1 else ''}"
        if self.method == "bloc":
            most = self.max_selections
            return (
                f"There {'are' if self.seats != 1 else 'is'} {seats} to fill. "
                f"Choose up to {most} candidate{'s' if most != 1 else ''}."
            )
        least, most = self.min_selections, self.max_selections
        text = (
            f"There {'are' if self.seats != 1 else 'is'} {seats} to fill. Number the "
            "candidates in the order you prefer them: 1 for your first choice, 2 for your "
            "second, and so on. "
        )
        if least > 1:
            text += f"Rank at least {least} candidates. "
        if most < len(self.candidates):
            text += f"You may rank up to {most}. "
        else:
            text += "You may rank as many as you like. "
        return text + (
            "If your first choice is elected or cannot be elected, your vote moves to your "
            "next choice, so ranking more candidates never harms your first choice."
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldError:
    contest: str
    field: str
    message: str


def _paragraphs(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip())


def contests_for(
    definition: Mapping[str, Any],
    standing: Mapping[str, Sequence[str]] | None,
    withdrawn: Mapping[str, Sequence[str]],
    attributes: Mapping[str, Any],
    returns: Mapping[str, Any] | None = None,
) -> tuple[ContestView, ...]:
    """The contests the member may vote in, in the definition's order, with the candidates
    who stand (validly nominated and not withdrawn). ``returns`` (the ledger's, from the close
    of nominations): a contest with no poll is left out, candidates returned unopposed are
    not on the paper, and a bloc contest's marks are the ledger's for its polled seats
    (``ledger.domain.election.ballot_paper``)."""
    parsed = el.parse_definition(dict(definition))
    docs = {c["id"]: c for c in definition["contests"]}
    views = []
    for contest in parsed.contests:
        if not el.eligible(contest.eligibility, attributes):
            continue
        ret = (returns or {}).get(contest.id)
        if ret is not None and ret["polled_seats"] == 0:
            continue  # returned unopposed or vacant at the close of nominations: no poll
        out = set(withdrawn.get(contest.id, ()))
        out |= {r["candidate"] for r in (ret or {}).get("unopposed", [])}
        contest = el.ballot_paper(contest, None if ret is None else ret["polled_seats"])
        stands = set(standing[contest.id]) if standing and contest.id in standing else None
        statements = {c["id"]: c.get("statement") for c in docs[contest.id]["candidates"]}
        candidates = tuple(
            CandidateView(
                id=c.id,
                name=c.name,
                slate=c.slate,
                statement=_paragraphs(statements.get(c.id)),
                field=(
                    f"bloc-{contest.id}-{c.id}"
                    if contest.method == "bloc"
                    else f"rank-{contest.id}-{c.id}"
                ),
            )
            for c in contest.candidates
            if c.id not in out and (stands is None or c.id in stands)
        )
        if not candidates:
            continue
        views.append(
            ContestView(
                id=contest.id,
                title=contest.title,
                method=contest.method,
                seats=contest.seats,
                min_selections=contest.min_selections,
                max_selections=min(contest.max_selections, len(candidates)),
                candidates=candidates,
            )
        )
    return tuple(views)


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def read_form(
    contests: Sequence[ContestView], form: Mapping[str, Sequence[str]]
) -> tuple[dict[str, list[str]], list[FieldError]]:
    """The selections of a submitted form (contests left blank are left out), and its errors.

    ``form`` maps each field name to every value sent under it (check boxes send several)."""
    selections: dict[str, list[str]] = {}
    errors: list[FieldError] = []
    for contest in contests:
        chosen, error = (_read_bloc if contest.method == "bloc" else _read_stv)(contest, form)
        if error is not None:
            errors.append(error)
        elif chosen:
            selections[contest.id] = chosen
    if not errors and not selections:
        errors.append(
            FieldError(
                contest=contests[0].id if contests else "",
                field=contests[0].field if contests else "",
                message="You have not voted in any contest. Choose at least one candidate.",
            )
        )
    return selections, errors


def _read_bloc(
    contest: ContestView, form: Mapping[str, Sequence[str]]
) -> tuple[list[str], FieldError | None]:
    known = {c.id for c in contest.candidates}
    values = list(dict.fromkeys(form.get(f"bloc-{contest.id}", ())))
    chosen = [c.id for c in contest.candidates if c.id in values]
    if any(v not in known for v in values):
        return [], FieldError(
            contest=contest.id,
            field=contest.field,
            message=f"{contest.title}: choose only candidates from the list.",
        )
    most = contest.max_selections
    if len(chosen) > most:
        return [], FieldError(
            contest=contest.id,
            field=contest.field,
            message=f"{contest.title}: choose up to {most} candidate{'s' if most != 1 else ''}"
            f" - you chose {len(chosen)}.",
        )
    if chosen and len(chosen) < contest.min_selections:
        return [], FieldError(
            contest=contest.id,
            field=contest.field,
            message=f"{contest.title}: choose at least {contest.min_selections} candidates, or "
            "none to leave this contest blank.",
        )
    return chosen, None


def _ranked(cand: CandidateView, ranks: Mapping[int, list[CandidateView]]) -> bool:
    return any(cand in same for same in ranks.values())


def _read_stv(
    contest: ContestView, form: Mapping[str, Sequence[str]]
) -> tuple[list[str], FieldError | None]:
    ranks: dict[int, list[CandidateView]] = {}
    for cand in contest.candidates:
        values = [v.strip() for v in form.get(cand.field, ()) if v.strip()]
        if not values:
            continue
        text = values[-1]
        if len(values) > 1 or not text.isascii() or not text.isdigit() or len(text) > 3:
            return [], FieldError(
                contest=contest.id,
                field=cand.field,
                message=f"{contest.title}: give {cand.name} a number from the list, or leave "
                "them blank.",
            )
        ranks.setdefault(int(text), []).append(cand)
    if not ranks:
        return [], None
    for rank in sorted(ranks):
        if len(ranks[rank]) > 1:
            names = " and ".join(c.name for c in ranks[rank])
            return [], FieldError(
                contest=contest.id,
                field=ranks[rank][1].field,
                message=f"{contest.title}: you gave {names} the same number ({rank}). "
                "Give each candidate a different number.",
            )
    used = sorted(ranks)
    expected = list(range(1, len(used) + 1))
    if used != expected:
        missing = next(n for n in expected if n not in ranks)
        after = next(r for r in used if r > missing)
        return [], FieldError(
            contest=contest.id,
            field=ranks[after][0].field,
            message=f"{contest.title}: your numbers must start at 1 and go up without gaps - "
            f"there is no {ordinal(missing)} choice. Number your choices 1, 2, 3 and so on.",
        )
    most, least = contest.max_selections, contest.min_selections
    if len(used) > most:
        return [], FieldError(
            contest=contest.id,
            field=ranks[used[most]][0].field,
            message=f"{contest.title}: rank up to {most} candidates - you ranked {len(used)}.",
        )
    if len(used) < least:
        return [], FieldError(
            contest=contest.id,
            field=next(c.field for c in contest.candidates if not _ranked(c, ranks)),
            message=f"{contest.title}: rank at least {least} candidates - you ranked "
            f"{len(used)}. Give the next candidate you prefer the number {len(used) + 1}, or "
            "leave every box blank to skip this contest.",
        )
    return [ranks[r][0].id for r in used], None
