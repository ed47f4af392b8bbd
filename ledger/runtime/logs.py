"""structlog set-up: JSON lines in production, readable key-value lines in a terminal.

Events are snake_case with bound ``request_id`` and ``election_id``. Nothing logs ballot
contents or voter identifiers, and a value a client chose (an election id, a path) goes in
``clipped``.
"""

from __future__ import annotations

import logging
import sys

import structlog

CLIP = 80
"""The most characters of a client-supplied value (an election id, a path) put in a log line."""


def clipped(value: str, limit: int = CLIP) -> str:
    """``value`` as it goes into a log line: whole up to ``limit`` characters, else its first
    ``limit - 1`` and an ellipsis, so that a client cannot make a log line any length."""
    return value if len(value) <= limit else value[: limit - 1] + "\u2026"


def configure(log_format: str = "auto", level: int = logging.INFO) -> None:
    """``log_format``: ``json``, ``console``, or ``auto`` (console on a terminal)."""
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Resolve sys.stderr at each use, not once: it may be replaced (tests, daemons).
        logger_factory=lambda *args: structlog.PrintLogger(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
