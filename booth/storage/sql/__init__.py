"""SQL files of the booth's store: the schema, numbered migrations, and named queries."""

from __future__ import annotations

from ledger.storage.sql import SqlFiles

_FILES = SqlFiles(__package__)
read = _FILES.read
schema = _FILES.schema
migrations = _FILES.migrations
queries = _FILES.queries
