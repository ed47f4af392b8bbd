"""``ballot bench …``: benchmarks that print their figures (not part of the test suite)."""
