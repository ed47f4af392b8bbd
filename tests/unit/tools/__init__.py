"""Unit tests of the `ballot` command and its tools (ballot/)."""
