"""The booth's service: the ledger's API as the booth uses it, and issuing codes."""
