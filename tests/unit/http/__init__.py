"""Unit tests of the HTTP shell's pure helpers (ledger.http)."""
