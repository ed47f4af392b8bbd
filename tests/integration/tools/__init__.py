"""The `ballot` tools (export, audit, receipt check) end to end."""
