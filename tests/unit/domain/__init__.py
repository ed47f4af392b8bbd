"""Unit tests of the pure election domain (ledger.domain)."""
