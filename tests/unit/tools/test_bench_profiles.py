"""The seeded profiles of `ballot bench count`, and its closing note."""

from __future__ import annotations

from ballot.bench.count import blt_text, closing_note, high_entropy
from counter.ballots import blt
from counter.ballots.profile import group

NAMES = [f"Candidate {chr(65 + i)}" for i in range(15)]


def test_high_entropy_is_seeded() -> None:
    """The same seed gives the same ballots; another seed gives others."""
    assert high_entropy(500, 15, 7) == high_entropy(500, 15, 7)
    assert high_entropy(500, 15, 7) != high_entropy(500, 15, 8)


def test_high_entropy_ballots_are_single_papers_of_random_length() -> None:
    """Every paper ranks 1..13 distinct candidates of the 15, once; lengths vary over the range."""
    raw = high_entropy(5_000, 15, 2017)
    assert {w for _, w in raw} == {1}
    assert all(len(set(r)) == len(r) and set(r) <= set(range(15)) for r, _ in raw)
    assert {len(r) for r, _ in raw} == set(range(1, 14))


def test_high_entropy_makes_most_papers_distinct() -> None:
    """Unlike the party profile, most rankings occur once: grouping saves little."""
    raw = high_entropy(20_000, 15, 2017)
    assert len(group(raw)) > 0.6 * len(raw)


def test_its_one_paper_a_line_blt_reads_as_the_grouped_ballots() -> None:
    """The bench's BLT file of the profile reads (both readers) as the ballots grouped."""
    raw = high_entropy(3_000, 15, 3)
    text = blt_text(raw, NAMES, 9)
    for vectorised in (True, False):
        assert blt.parse(text, vectorised=vectorised).ballots == group(raw, 15)


def test_closing_note_prints_both_profiles_both_tools_and_the_ratios() -> None:
    """One line per profile: our and pyrankvote's wall/CPU times, the ratios, the verdict."""
    row = {
        "ballots": 1_000_000,
        "distinct": 497_181,
        "mb": 19.3,
        "same_winners": True,
    }
    rows = [
        {**row, "label": "party", "wall": 0.5, "cpu": 0.4, "py_wall": 11.0, "py_cpu": 10.0},
        {**row, "label": "high-entropy", "wall": 1.0, "cpu": 0.8, "py_wall": 11.0, "py_cpu": 9.6},
    ]
    note = closing_note(rows, 3).splitlines()
    assert "median of 3" in note[1]
    assert note[3].split()[:2] == ["party", "1,000,000"]
    assert "22.0" in note[3] and "25.0" in note[3] and "meets" in note[3]
    assert note[4].split()[0] == "high-entropy"
    assert "11.0" in note[4] and "12.0" in note[4] and "MISSES" in note[4]
