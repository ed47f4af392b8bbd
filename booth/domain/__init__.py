"""The booth's pure core: voting codes, the ballot form, throttles and sessions."""
