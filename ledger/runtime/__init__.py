"""Process plumbing: settings, the embedded PostgreSQL, logs and metrics."""
