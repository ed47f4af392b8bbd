"""The counter service, following a real ledger."""
