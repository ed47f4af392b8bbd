"""Process plumbing of the counter: settings and metrics."""
