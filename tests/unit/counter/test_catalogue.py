"""The rule catalogue (schemas/rules.json) and the counter's registry agree exactly."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from counter.errors import CounterError
from counter.rules import RULES, ers97, meek, resolve, scottish
from counter.rules import custom as custom_rule
from ledger.domain import rules as catalogue


def _counter_kind(name: str) -> str | None:
    try:
        return resolve(name).kind
    except CounterError:
        return None


def _ledger_kind(name: str) -> str | None:
    try:
        return catalogue.rule_kind(name)
    except catalogue.UnknownRule:
        return None


def test_registered_rules_match_the_catalogue() -> None:
    """The registry counts by exactly the catalogue's rules, and each rule's title and
    precision in the catalogue are those its arithmetic uses (the rule module's parameters)."""
    listed = {r["name"]: r for r in catalogue.catalogue()["rules"]}
    assert set(listed) == set(RULES)
    params = {
        "scottish": scottish.PARAMS,
        "ers97": ers97.PARAMS,
        "meek": meek.PARAMS,
        "exact-droop": custom_rule.EXACT_DROOP.stv,
    }
    for name, p in params.items():
        assert p is not None
        assert listed[name]["decimals"] == p.decimals, name
        assert listed[name]["kind"] == "stv", name
        if name != "exact-droop":
            assert listed[name]["title"] == p.title, name
    assert (listed["bloc"]["kind"], listed["bloc"]["decimals"]) == ("bloc", 0)


def test_custom_defaults_are_the_exact_droop_preset() -> None:
    """The custom rule's defaults (read from the catalogue) spell the exact-droop preset."""
    options = catalogue.catalogue()["custom"]["options"]
    assert {k: o["default"] for k, o in options.items()} == custom_rule.DEFAULTS
    assert custom_rule.parse_spec("custom").spec == custom_rule.EXACT_DROOP.spec
    assert custom_rule.DEFAULTS == {
        "quota": "droop-exact",
        "elect": "gt",
        "transfer": "inclusive",
        "decimals": "exact",
        "exclusion": "single",
        "ties": "recent",
    }


VALUES = {
    "quota": ["droop", "droop-exact", "ers97", "hare", "nz", "bogus"],
    "elect": ["geq", "gt", "ge"],
    "transfer": ["inclusive", "last-parcel", "meek", "wigm"],
    "decimals": ["exact", "0", "1", "5", "18", "19", "007", "-1", "x", "²"],
    "exclusion": ["single", "batches", "all"],
    "ties": ["recent", "earliest", "random"],
}


def test_every_custom_combination_is_judged_alike() -> None:
    """For every combination of option values, valid or not, ledger and counter agree."""
    keys = list(VALUES)
    for combo in itertools.product(*(VALUES[k] for k in keys)):
        name = "custom:" + ",".join(f"{k}={v}" for k, v in zip(keys, combo, strict=True))
        assert _ledger_kind(name) == _counter_kind(name), name


@pytest.mark.parametrize(
    "name",
    [
        "custom",
        "custom:",
        "custom: quota = droop , elect=geq",
        "custom:quota=droop,quota=hare",
        "custom:,,",
        "custom:quota",
        "custom:colour=red",
        "customs",
        "custom:transfer=meek",
        "custom:transfer=meek,decimals=9,quota=nz",
        "scottish",
        "bloc",
        "Scottish",
        "",
        "meek ",
    ],
)
def test_spellings_are_judged_alike(name: str) -> None:
    """Odd spellings (spaces, repeats, empty parts, case) are judged alike by both sides."""
    assert _ledger_kind(name) == _counter_kind(name)


@given(st.text(alphabet="custom:=,.qetransfrdilx0123456789 -", max_size=40))
def test_any_text_is_judged_alike(name: str) -> None:
    """Any text made of the rule grammar's characters is judged alike by both sides."""
    assert _ledger_kind(name) == _counter_kind(name)
