"""The booth's PostgreSQL tables (all named ``booth_*``)."""
