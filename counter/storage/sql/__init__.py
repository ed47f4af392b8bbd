"""SQL files of the counter's store: the schema, numbered migrations, and named queries."""

from __future__ import annotations

from ledger.storage.sql import SqlFiles

FILES = SqlFiles(__package__)
read = FILES.read
schema = FILES.schema
migrations = FILES.migrations
queries = FILES.queries
