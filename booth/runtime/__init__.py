"""The booth's process plumbing: settings and its secret."""
