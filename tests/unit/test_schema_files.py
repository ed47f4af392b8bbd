"""The counter's and the booth's schema.sql are their migrations, concatenated in order."""

from __future__ import annotations

import pytest

from booth.storage.sql import FILES as BOOTH
from counter.storage.sql import FILES as COUNTER
from ledger.storage.sql import SqlFiles


@pytest.mark.parametrize("sql", [COUNTER, BOOTH], ids=["counter", "booth"])
def test_schema_file_is_the_migrations(sql: SqlFiles) -> None:
    """schema.sql holds exactly the migrations, in order (test databases may use either)."""
    body = sql.schema().split("-- ==== ", 1)[1]
    parts = body.split("-- ==== ")
    assert [p.split(" ====\n", 1)[0] for p in parts] == [f"{v}.sql" for v, _ in sql.migrations()]
    assert [p.split(" ====\n", 1)[1] for p in parts] == [t for _, t in sql.migrations()]
