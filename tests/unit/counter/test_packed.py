"""The packed path (BLT into arrays, a Gregory count on them) gives the tuple path's result.

* :func:`counter.rules.packed.count_packed` against :func:`counter.rules.stv.count_stv` on
  the grouped tuples, over the parameters it covers, withdrawn candidates, repeated
  and unsorted rankings, exhaustion, look-back ties and lot draws (default seed too).
* :func:`counter.ballots.blt.parse_packed` against :func:`counter.ballots.blt.parse`.
* ``ballot count`` on a large file takes the packed path and never builds the tuples.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ballot.cli import main
from counter.ballots import blt
from counter.ballots.profile import group
from counter.errors import CounterError
from counter.rules import count, count_packed, packs, report, scottish
from counter.rules.model import Candidate, Profile, Ranking
from counter.rules.packed import PackedProfile, pack, supports
from counter.rules.stv import StvParams, count_stv

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Raw = list[tuple[Ranking, int]]


@st.composite
def stv_params(draw: st.DrawFn) -> StvParams:
    """Scottish itself, or any parameters the packed engine covers."""
    if draw(st.booleans()):
        return scottish.PARAMS
    return StvParams(
        name="packed-test",
        title="packed (test)",
        decimals=draw(st.sampled_from((0, 1, 2, 5))),
        quota=draw(st.sampled_from(("droop", "droop-exact", "ers97", "hare"))),
        elect_at=draw(st.sampled_from(("geq", "gt"))),
        bulk_exclusion=draw(st.booleans()),
        defer_surpluses=draw(st.booleans()),
        lookback=draw(st.sampled_from(("recent", "earliest"))),
        active_vote_election=draw(st.booleans()),
        last_vacancies_without_transfer=draw(st.booleans()),
    )


@st.composite
def profiles(draw: st.DrawFn) -> tuple[tuple[Candidate, ...], Raw, int]:
    """Small weights and short rankings: ties, exhaustion and lots are common; mostly
    fewer seats than half the candidates, so that counts run many stages."""
    n = draw(st.integers(min_value=1, max_value=8))
    few = st.integers(min_value=1, max_value=max(1, n // 2))
    seats = draw(st.integers(min_value=1, max_value=n + 1) if draw(st.booleans()) else few)
    ranking = st.lists(st.integers(min_value=0, max_value=n - 1), max_size=n + 2)
    paper = st.tuples(ranking.map(tuple), st.integers(min_value=0, max_value=6))
    raw = draw(st.lists(paper, max_size=draw(st.sampled_from((10, 60)))))
    withdrawn = draw(st.sets(st.integers(min_value=0, max_value=n - 1), max_size=1))
    candidates = tuple(
        Candidate(id=str(i + 1), name=f"C{i + 1}", withdrawn=i in withdrawn) for i in range(n)
    )
    return candidates, raw, seats


def _packed(candidates: tuple[Candidate, ...], raw: Raw) -> PackedProfile:
    def unpack() -> Profile:
        return Profile(candidates=candidates, ballots=group(raw, len(candidates)), grouped=True)

    return PackedProfile(
        candidates=candidates,
        ballots=pack(raw, len(candidates)),
        seats=None,
        title="",
        unpack=unpack,
    )


def _outcome(fn: object, *args: object) -> object:
    try:
        result = fn(*args)  # type: ignore[operator]
    except CounterError as exc:
        return ("error", type(exc).__name__, str(exc))
    return result, json.dumps(report.to_json(result))


@SETTINGS
@given(data=profiles(), params=stv_params(), seed=st.sampled_from((None, b"\x07" * 32)))
@example(  # a two-way tie decided by the lot, the seed derived from the profile
    data=((Candidate(id="1", name="A"), Candidate(id="2", name="B")), [((0,), 1), ((1,), 1)], 1),
    params=scottish.PARAMS,
    seed=None,
)
def test_packed_count_equals_the_bundle_engine(
    data: tuple[tuple[Candidate, ...], Raw, int], params: StvParams, seed: bytes | None
) -> None:
    """Every round, tie, note and the seed: the same result and the same JSON as count_stv."""
    candidates, raw, seats = data
    packed = _packed(candidates, raw)
    assert supports(params)
    expected = _outcome(count_stv, params, packed.unpack(), seats, (), seed)
    assert _outcome(_count_packed, params, packed, seats, seed) == expected


@pytest.mark.parametrize("seed", range(8))
def test_packed_count_equals_the_bundle_engine_on_long_counts(seed: int) -> None:
    """Seeded profiles that run many stages (surpluses, exclusions, look-backs): the same."""
    rnd = random.Random(seed)
    stages = 0
    for _ in range(40):
        n = rnd.randint(4, 10)
        candidates = tuple(
            Candidate(id=str(i + 1), name=f"C{i + 1}", withdrawn=rnd.random() < 0.05)
            for i in range(n)
        )
        raw: Raw = []
        for _ in range(rnd.randint(20, 200)):
            ranking = rnd.sample(range(n), rnd.randint(0, n))
            if rnd.random() < 0.05:
                ranking.append(rnd.randrange(n))  # a repeated preference
            raw.append((tuple(ranking), rnd.choice((1, 1, 1, 2, 3))))
        params = rnd.choice((scottish.PARAMS, _variant(rnd)))
        packed = _packed(candidates, raw)
        seats = rnd.randint(1, n - 2)
        expected = _outcome(count_stv, params, packed.unpack(), seats, (), None)
        assert _outcome(_count_packed, params, packed, seats, None) == expected
        stages += len(expected[0].rounds) if isinstance(expected, tuple) else 0  # type: ignore[attr-defined]
    assert stages > 40 * 4  # the counts really ran many stages


def _variant(rnd: random.Random) -> StvParams:
    return StvParams(
        name="packed-test",
        title="packed (test)",
        decimals=rnd.choice((0, 2, 5)),
        quota=rnd.choice(("droop", "droop-exact", "ers97", "hare")),
        elect_at=rnd.choice(("geq", "gt")),
        bulk_exclusion=rnd.random() < 0.5,
        defer_surpluses=rnd.random() < 0.5,
        lookback=rnd.choice(("recent", "earliest")),
    )


def _count_packed(
    params: StvParams, packed: PackedProfile, seats: int, seed: bytes | None
) -> object:
    from counter.rules.packed import count_packed as engine

    return engine(params, packed, seats, (), seed)


def test_a_lot_with_no_seed_hashes_the_unpacked_profile() -> None:
    """A tie broken by lot without --seed: the default seed of the tuples, built only then."""
    candidates = (Candidate(id="1", name="A"), Candidate(id="2", name="B"))
    raw: Raw = [((1,), 2), ((0,), 2), ((0, 1), 0)]
    built: list[int] = []
    packed = _packed(candidates, raw)
    unpack = packed.unpack

    def counting_unpack() -> Profile:
        built.append(1)
        return unpack()

    result = count_packed(replace(packed, unpack=counting_unpack), "scottish", 1)
    assert built == [1]
    assert result.ties and result.ties[0].method == "lot"
    assert result == count(unpack(), "scottish", 1)


def test_rules_the_engine_does_not_cover_count_the_unpacked_profile() -> None:
    """ers97 (last parcel, batches) and exact rules: counted on the tuples, same result."""
    candidates = tuple(Candidate(id=str(i + 1), name=f"C{i + 1}") for i in range(4))
    raw: Raw = [((0, 1, 2), 5), ((1, 0), 3), ((2, 3), 4), ((3,), 2), ((0, 3), 2)]
    packed = _packed(candidates, raw)
    assert packs("scottish") and not packs("ers97") and not packs("meek")
    for rule in ("ers97", "meek", "exact-droop", "bloc", "custom:decimals=2,quota=droop"):
        assert count_packed(packed, rule, 2) == count(packed.unpack(), rule, 2)


def test_candidate_attributes_given_after_reading_reach_every_path() -> None:
    """Gender and slate attached to a packed profile are in the result, packed or unpacked."""
    plain = tuple(Candidate(id=str(i + 1), name=f"C{i + 1}") for i in range(3))
    raw: Raw = [((0, 1), 5), ((1, 2), 3), ((2,), 4)]
    packed = replace(_packed(plain, raw), candidates=tuple(replace(c, gender="F") for c in plain))
    for rule in ("scottish", "ers97"):
        assert count_packed(packed, rule, 1).candidates == packed.candidates
    assert packed.tuples().candidates == packed.candidates


_PLAIN_LINE = st.tuples(
    st.one_of(st.integers(0, 99), st.integers(100, 10**9 - 1)),  # long weights: read apart
    st.lists(st.integers(1, 12), max_size=14),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 12),
    st.lists(_PLAIN_LINE, max_size=60),
    st.booleans(),
    st.booleans(),
    st.sets(st.integers(1, 12), max_size=2),
    st.integers(1, 4),
)
def test_packed_reader_counts_as_the_tuple_reader(
    ncand: int,
    lines_in: list[tuple[int, list[int], bool]],
    crlf: bool,
    blank: bool,
    withdrawn: set[int],
    seats: int,
) -> None:
    """parse_packed of a plain file counts exactly as parse (repeats, blanks, CRLF, withdrawn)."""
    lines = [f"{ncand} {seats}"]
    if withdrawn := {w for w in withdrawn if w <= ncand}:
        lines.append(" ".join(f"-{w}" for w in sorted(withdrawn)))
    for weight, prefs, terminated in lines_in:
        prefs = [p for p in prefs if p <= ncand]
        terminated = terminated or not (weight or prefs)  # a bare "0" would end the ballots
        lines.append(" ".join([str(weight), *map(str, prefs), *(["0"] if terminated else [])]))
        if blank:
            lines.append("")
    lines += ["0", *(f'"C {i}"' for i in range(ncand)), '"T"']
    text = ("\r\n" if crlf else "\n").join(lines) + "\n"
    packed = blt.parse_packed(text, blt.Reading(rule="scottish", marks="truncate"))
    profile = blt.parse(text)
    if not lines_in:
        assert packed is None  # no ballot lines: the line reader reads the file
        return
    assert packed is not None
    assert (packed.candidates, packed.seats, packed.title) == (
        profile.candidates,
        profile.seats,
        profile.title,
    )
    assert packed.unpack() == profile
    for seed in (None, b"\x03" * 32):
        assert _outcome(count_packed, packed, "scottish", None, (), seed) == _outcome(
            count, profile, "scottish", None, (), seed
        )


@pytest.mark.parametrize(
    "block",
    [
        "1 2 0\n# a comment\n",  # not plain: the line reader
        "1 2 0\n(b1) 1 1 0\n",  # a ballot id
        "1 1=2 0\n",  # an equal preference
        "1 100 0\n",  # a preference of three digits
        "12345678901 1 0\n",  # a weight of eleven digits
        "1 2 0 1 0\n",  # a 0 inside a line
        "1 9 0\n",  # not a candidate
        "1 2 0\n 0\n1 1 0\n",  # a bare 0 spelled otherwise: an earlier end
    ],
)
def test_packed_reader_steps_aside_from_what_is_not_its_shape(block: str) -> None:
    """Comments, ids, marks, long preferences, huge weights, inner zeros, unknown candidates,
    an early end: None (parse reads them)."""
    text = "3 1\n" + block + '0\n"A"\n"B"\n"C"\n"T"\n'
    assert blt.parse_packed(text) is None


def test_cli_counts_a_large_file_without_building_tuples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ballot count --rule scottish --json` on a large plain file: packed, same JSON."""
    from ballot.bench.count import blt_text, high_entropy

    raw = high_entropy(6000, 9, 5)
    names = [f"Cand {chr(65 + i)}" for i in range(9)]
    path = tmp_path / "big.blt"
    text = blt_text(raw, names, 4)
    assert len(text) >= blt.FAST_FROM
    path.write_text(text, encoding="utf-8")
    expected = report.to_json(count(blt.parse(text), "scottish"))

    def no_tuples(*_: object, **__: object) -> Profile:
        raise AssertionError("the packed path built the tuples")

    monkeypatch.setattr(blt, "parse", no_tuples)
    assert main(["count", str(path), "--rule", "scottish", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == expected


@pytest.mark.parametrize("bom", ["", "\ufeff"])
def test_packed_reader_given_the_bytes_reads_as_given_the_text(bom: str) -> None:
    """The file's bytes handed over (a BOM or not): the same packed profile as from the text."""
    text = bom + '3 2\n-2\n5 1 2 0\n120 3 1 0\n7 2\n0\n"A"\n"B"\n"C"\n"T"\n'
    from_text = blt.parse_packed(text)
    from_bytes = blt.parse_packed(text, data=text.encode("utf-8"))
    assert from_text is not None and from_bytes is not None
    assert from_bytes.unpack() == from_text.unpack() == blt.parse(text)
    assert from_bytes.ballots.weights.tolist() == from_text.ballots.weights.tolist() == [5, 120, 7]
    assert count_packed(from_bytes, "scottish") == count(blt.parse(text), "scottish")


@pytest.mark.parametrize("size", [1, 2, 5, 16, 64, 1 << 20])
@pytest.mark.parametrize("crlf", [False, True])
def test_packed_reader_reads_alike_whatever_its_slices(
    size: int, crlf: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slices of a few bytes (lines split between slices' ends): the same papers as one slice."""
    rnd = random.Random(size)
    lines = ["6 2", "-4"]
    for _ in range(200):
        prefs = [str(rnd.randint(1, 6)) for _ in range(rnd.randint(0, 7))]
        weight = str(rnd.choice((1, 2, 17, 99, 100, 4567, 1234567890)))
        lines.append(" ".join([weight, *prefs, *(["0"] if rnd.random() < 0.8 else [])]))
        if rnd.random() < 0.1:
            lines.append("  ")
    lines += ["0", *(f'"C{i}"' for i in range(6)), '"T"']
    text = ("\r\n" if crlf else "\n").join(lines) + "\n"
    monkeypatch.setattr(blt, "_SLICE", size)
    packed = blt.parse_packed(text)
    assert packed is not None
    assert int(packed.ballots.weights.max()) == 1234567890
    assert packed.unpack() == blt.parse(text)
    assert count_packed(packed, "scottish") == count(blt.parse(text), "scottish")


@pytest.mark.parametrize("names", ["A\nB\nC\nT\n", '"A"\n"B"\n"C"\n"T"\n', "10\n20\n30\n40\n"])
def test_a_bare_0_after_the_names_does_not_move_the_end_of_the_ballots(names: str) -> None:
    """Trailing lines after the title holding a 0: the ballots still end at the first bare 0."""
    text = "3 1\n2 1 2 0\n1 3 0\n0\n" + names + "0\n1 2 3 0\n0\n"
    expected = blt.parse(text, vectorised=False)
    assert expected.title == names.split()[-1].strip('"') and len(expected.ballots) == 2
    if names[0] == "1":  # names of digits: the block up to the last bare 0 looks plain
        assert blt._plain_block(text.encode(), 4) is not None
    assert blt.parse(text, vectorised=True) == expected
    packed = blt.parse_packed(text)
    assert packed is None or packed.unpack() == expected


@pytest.mark.parametrize("ncand", [9, 70])
@pytest.mark.parametrize("token", ["00", "05"])
def test_a_two_digit_preference_with_a_leading_0_is_read_as_parse_reads_it(
    ncand: int, token: str
) -> None:
    """'00' ending a line, or '05': the packed reader counts as parse reads the file (which
    refuses '00', and '05' among fewer than 10 candidates), with a seed given or not."""
    names = "".join(f'"C{i}"\n' for i in range(ncand))
    text = f'{ncand} 2\n3 1 2 {token}\n2 2 1 0\n1 3 0\n0\n{names}"T"\n'
    packed = blt.parse_packed(text)
    for seed in (None, b"\x05" * 32):
        expected = _outcome(_parse_and_count, text, seed)
        assert packed is None or _outcome(count_packed, packed, "scottish", None, (), seed) == (
            expected
        )


def _parse_and_count(text: str, seed: bytes | None) -> object:
    return count(blt.parse(text), "scottish", None, (), seed)


def test_weights_summing_past_int64_are_counted_by_the_bundle_engine() -> None:
    """Weights whose int64 sum wraps (2**62 + 2**62 + 3): the bundle engine's result, not a
    negative poll."""
    candidates = tuple(Candidate(id=str(i + 1), name=f"C{i + 1}") for i in range(3))
    raw: Raw = [((0, 1), 2**62), ((1, 2), 2**62), ((2,), 3)]
    packed = _packed(candidates, raw)
    expected = _outcome(count_stv, scottish.PARAMS, packed.unpack(), 1, (), None)
    assert _outcome(_count_packed, scottish.PARAMS, packed, 1, None) == expected
