"""The election domain, pure: definitions, eligibility, ballot validation, phases, commitments, the
JSON Schemas and the rule catalogue. Imports only ``ledger.format`` and ``ledger.errors``."""
