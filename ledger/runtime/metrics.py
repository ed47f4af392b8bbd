"""Prometheus metrics of the ledger (served at ``/metrics`` on the private listener only: they
count acceptances as they happen, which the public must not see while the poll is open)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

APPENDS = Counter("ballot_ledger_appends_total", "Entries appended to logs", ["type"])
RECEIPTS = Counter("ballot_ledger_receipts_total", "Ballot receipts issued")
ACCEPTED = Counter("ballot_ledger_accepted_total", "Ballots accepted into the pending store")
RELEASED = Counter("ballot_ledger_released_total", "Ballots released to the log in rounds")
ROUNDS = Counter("ballot_ledger_release_rounds_total", "Release rounds appended")
REJECTIONS = Counter("ballot_ledger_rejections_total", "Requests refused", ["problem"])
CHECKPOINTS = Counter("ballot_ledger_checkpoints_total", "Checkpoints signed")
BATCH_SIZE = Histogram(
    "ballot_ledger_batch_size",
    "Ballot papers per group commit",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048),
)
COMMIT_SECONDS = Histogram(
    "ballot_ledger_commit_seconds",
    "Time to check, append and commit one batch",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
)
