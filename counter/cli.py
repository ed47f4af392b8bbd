"""`ballot count` and `ballot bench count` (placeholder until the counting issue lands)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parsers(sub: Any, bench_sub: Any) -> None:
    """Register the counter's subcommands on the top-level and `bench` sub-parsers."""
    del sub, bench_sub


def _unused(args: argparse.Namespace) -> int:
    del args
    return 0
