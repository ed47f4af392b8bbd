"""The log fold and the offline audit, pure: events in, tallies and verdicts out."""
