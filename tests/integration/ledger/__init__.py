"""The ledger service over real HTTP and a real PostgreSQL."""
