"""Unit tests of the pure log format (ledger.format)."""
