"""The counter's configuration, schema file and results-page model (pure parts)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from counter.http.pages import page_model, percent, transfer_bars
from counter.runtime.settings import load_settings
from counter.storage import sql
from ledger.format.keys import Signer
from ledger.runtime.settings import ConfigError

KEY = Signer(name="ballot-ledger.test/ledger", seed=bytes(32)).verifier.text()


def test_settings_come_from_the_environment() -> None:
    """BALLOT_COUNTER_* variables set the counter, with lists split on commas."""
    s = load_settings(
        {
            "BALLOT_COUNTER_LEDGER_URL": "http://ledger:8080",
            "BALLOT_COUNTER_LEDGER_KEYS": KEY,
            "BALLOT_COUNTER_ELECTIONS": "a, b",
            "BALLOT_COUNTER_PORT": "9000",
            "BALLOT_COUNTER_DATA_DIR": "/srv/counter",
        }
    )
    assert s.ledger_url == "http://ledger:8080" and s.ledger_keys == (KEY,)
    assert s.elections == ("a", "b") and s.port == 9000 and s.data_dir == Path("/srv/counter")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BALLOT_COUNTER_LEDGER_KEYS": "not-a-key"}, "BALLOT_COUNTER_LEDGER_KEYS"),
        ({"BALLOT_COUNTER_LEDGER_URL": "ftp://x"}, "http"),
        ({"BALLOT_COUNTER_PORT": "eighty"}, "bad value for port"),
        ({"BALLOT_COUNTER_WAIT": "600"}, "WAIT"),
        ({"BALLOT_COUNTER_CONFIG": "/nonexistent.json"}, "cannot read"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(env: dict[str, str], message: str) -> None:
    """A setting that cannot work is a ConfigError that names it."""
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_the_counters_queries_are_named() -> None:
    """The counter's queries file names the queries its store runs."""
    assert {"advance", "upsert_projection", "insert_result"} <= set(sql.queries())


def test_transfer_chart_scales_gains_and_losses() -> None:
    """The longest transfer gets the full bar; losses point left; unmoved candidates vanish."""
    bars = transfer_bars({"A": "-10.00000", "B": "5.00000", "C": "0.00000"})
    assert [(b["name"], b["width"], b["gain"]) for b in bars] == [
        ("A", 240, False),
        ("B", 120, True),
    ]
    assert percent(Fraction(2, 3)) == "66.7" and percent(Fraction(0)) == "0.0"


def test_page_model_shows_turnout_nominations_and_bloc_margins() -> None:
    """The page model carries turnout by dimension, nomination shares and bloc margins."""
    running = {
        "phase": "declared",
        "size": 10,
        "root": "ab",
        "definition": {"title": "T", "contests": {"c": {"title": "Contest C"}}},
        "contests": {"c": {"cast": 8, "eligible": 12}},
        "turnout_by_dimension": {
            "c": {
                "by": {"region": {"north": 5, "south": None}},
                "eligible_by": {"region": {"north": 7, "south": None}},
            }
        },
        "nominations": {
            "c": {
                "bodies": 4,
                "threshold": 2,
                "candidates": [{"name": "A", "share": "0.7500", "valid": True}],
                "slates": {"left": 3},
            }
        },
    }
    doc = {
        "rule": "bloc",
        "elected": ["A"],
        "rounds": [{"tallies": {"A": "3", "B": "1"}}],
        "margins": {"B": "2"},
    }
    result = {
        "contest": "c",
        "result": doc,
        "declared": True,
        "result_hash": "h",
        "counted_size": 10,
        "counted_root": "ab",
    }
    page = page_model("e", running, [result])
    assert page["title"] == "T" and page["contests"][0]["title"] == "Contest C"
    assert page["turnout"][0]["percent"] == "66.7"
    region = page["turnout"][0]["dimensions"]["region"]
    assert [(g["value"], g["eligible"], g["cast"], g["percent"], g["share"]) for g in region] == [
        ("north", "7", "5", "71.4", "62.5"),
        ("south", "", None, "", None),
    ]
    assert page["nominations"][0]["candidates"][0]["percent"] == "75.0"
    rows = page["contests"][0]["bloc"]
    assert [(r["name"], r["margin"], r["elected"]) for r in rows] == [
        ("A", "0", True),
        ("B", "2", False),
    ]


def test_the_quick_start_tokens_pass_the_ledgers_checks() -> None:
    """docs/counter.md's quick-start tokens load and are accepted by the ledger's token table,
    and the counter's ledger token is one of the ledger's counter tokens."""
    import re
    import shlex

    from ledger.http.auth import TokenTable
    from ledger.runtime.settings import load_settings as load_ledger_settings

    text = (Path(__file__).parents[3] / "docs" / "counter.md").read_text(encoding="utf-8")
    env = {
        name: shlex.split(value)[0]
        for name, value in re.findall(r"^export (BALLOT_\w*TOKENS?)=(.+)$", text, re.M)
    }
    assert {"BALLOT_ADMIN_TOKENS", "BALLOT_COUNTER_LEDGER_TOKEN"} <= set(env)
    ledger = load_ledger_settings(env)
    TokenTable(ledger.admin_tokens, ledger.frontend_tokens, ledger.counter_tokens)
    counter = load_settings(env)
    assert counter.ledger_token in ledger.counter_tokens
