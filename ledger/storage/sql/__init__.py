"""SQL files of a store: the schema, numbered migrations, and named queries.

``SqlFiles(package)`` reads them from a package folder; the ledger's are in this package, the
counter's in ``counter.storage.sql``.
"""

from __future__ import annotations

import re
from importlib import resources

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


class SqlFiles:
    def __init__(self, package: str) -> None:
        self.package = package
        self._queries: dict[str, dict[str, str]] = {}

    def read(self, name: str) -> str:
        return resources.files(self.package).joinpath(name).read_text()

    def schema(self) -> str:
        return self.read("schema.sql")

    def migrations(self) -> list[tuple[str, str]]:
        """Every migration as ``(version, sql)``, in order."""
        folder = resources.files(self.package).joinpath("migrations")
        names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
        return [(n.removesuffix(".sql"), folder.joinpath(n).read_text()) for n in names]

    def queries(self, filename: str = "queries.sql") -> dict[str, str]:
        """The named queries of a ``.sql`` file: ``-- name: X`` starts query X."""
        if filename not in self._queries:
            parts = _NAME.split(self.read(filename))
            self._queries[filename] = {
                parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)
            }
        return self._queries[filename]


FILES = SqlFiles(__package__)
read = FILES.read
schema = FILES.schema
migrations = FILES.migrations
queries = FILES.queries
