"""The voting booth: members sign in with a voting code, mark their ballot, and get receipts.

A separate service from the ledger (it holds the members' codes, which the ledger never sees),
with its own PostgreSQL tables; it casts through the ledger's front-end API (docs/booth.md).
"""
