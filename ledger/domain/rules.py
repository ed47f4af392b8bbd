"""The rule catalogue (``schemas/rules.json``): which counting rules a definition may name.

The ledger checks a contest's rule against the catalogue, never against the counter's code:
a registered name, or ``custom`` / ``custom:KEY=VALUE,...`` with every option known and every
value one its family accepts. ``tests/unit/counter/test_catalogue.py`` checks that the
counter's registry (``counter.rules.resolve``) accepts exactly the names this module accepts.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from ledger.errors import LedgerError

_DIGITS = re.compile(r"[0-9]+")


class UnknownRule(LedgerError):
    """No counting rule of that name."""


@cache
def catalogue() -> dict[str, Any]:
    """The parsed ``schemas/rules.json``."""
    data: dict[str, Any] = json.loads(resources.files("schemas").joinpath("rules.json").read_text())
    return data


def names(kind: str | None = None) -> list[str]:
    """The registered rule names (of ``kind``, ``"stv"`` or ``"bloc"``, if given)."""
    return [r["name"] for r in catalogue()["rules"] if kind is None or r["kind"] == kind]


def rule_kind(name: str) -> str:
    """The kind (``"stv"`` or ``"bloc"``) of the rule called ``name``; ``UnknownRule`` if none."""
    for rule in catalogue()["rules"]:
        if rule["name"] == name:
            return str(rule["kind"])
    custom = catalogue()["custom"]
    if name == custom["name"] or name.startswith(custom["name"] + ":"):
        check_custom(name)
        return str(custom["kind"])
    raise UnknownRule(f"unknown rule {name!r}", rule=name, known=[*names(), "custom:key=value,..."])


def check_custom(spec: str) -> dict[str, str]:
    """The options of a ``custom:KEY=VALUE,...`` rule, defaults filled in; ``UnknownRule`` with
    the reason if the catalogue refuses it."""
    options_spec: dict[str, Any] = catalogue()["custom"]["options"]
    body = spec.split(":", 1)[1] if ":" in spec else ""
    options = {key: str(o["default"]) for key, o in options_spec.items()}
    for part in filter(None, (p.strip() for p in body.split(","))):
        if "=" not in part:
            raise UnknownRule(f"custom rule option {part!r} is not key=value", rule=spec)
        key, value = (t.strip() for t in part.split("=", 1))
        if key not in options:
            raise UnknownRule(f"unknown custom rule option {key!r}", rule=spec, known=[*options])
        options[key] = value
    family = "meek" if options["transfer"] == "meek" else "stv"
    for key, allowed in ((k, o[family]) for k, o in options_spec.items()):
        value = options[key]
        if allowed is None:
            continue
        if isinstance(allowed, list):
            if value not in allowed:
                raise UnknownRule(
                    f"custom rule option {key}={value!r} is not allowed here",
                    rule=spec,
                    allowed=allowed,
                )
        elif value == "exact":
            if not allowed["exact"]:
                raise UnknownRule(f"{key}=exact is not allowed with transfer=meek", rule=spec)
        elif not _DIGITS.fullmatch(value) or not allowed["min"] <= int(value) <= allowed["max"]:
            raise UnknownRule(
                f"{key} must be a whole number from {allowed['min']} to {allowed['max']}"
                + (" or 'exact'" if allowed["exact"] else ""),
                rule=spec,
            )
    return options
