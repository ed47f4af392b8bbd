"""SQL files of the counter's store: the schema, numbered migrations, and named queries."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def read(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text()


def schema() -> str:
    return read("schema.sql")


def migrations() -> list[tuple[str, str]]:
    """Every migration as ``(version, sql)``, in order."""
    folder = resources.files(__package__).joinpath("migrations")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(n.removesuffix(".sql"), folder.joinpath(n).read_text()) for n in names]


@cache
def queries(filename: str = "queries.sql") -> dict[str, str]:
    """The named queries of a ``.sql`` file: ``-- name: X`` starts query X."""
    parts = _NAME.split(read(filename))
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}
