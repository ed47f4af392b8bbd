"""Prometheus metrics of the counter (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FOLDED = Counter("ballot_counter_entries_folded_total", "Entries verified and folded", ["election"])
BATCHES = Counter("ballot_counter_batches_total", "Batches committed", ["election"])
ERRORS = Counter("ballot_counter_errors_total", "Errors met while following", ["kind"])
ALERTS = Counter("ballot_counter_alerts_total", "Alerts raised (a fold stopped)", ["election"])
LAG_ENTRIES = Gauge(
    "ballot_counter_lag_entries", "Entries the ledger has that the fold has not", ["election"]
)
LAG_SECONDS = Gauge(
    "ballot_counter_lag_seconds",
    "Age of the newest entry folded while behind the ledger (0 when caught up)",
    ["election"],
)
SIZE = Gauge("ballot_counter_log_size", "Entries folded", ["election"])
BATCH_SECONDS = Histogram(
    "ballot_counter_batch_seconds",
    "Time to verify, fold and commit one batch",
    buckets=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
)
