"""Unit tests of the counter's pure core: rules, ballots, the fold."""
