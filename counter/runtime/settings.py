"""Configuration of the counter service: environment variables, optionally a JSON file.

Every setting has an environment variable ``BALLOT_COUNTER_<NAME>``; ``BALLOT_COUNTER_CONFIG``
names a JSON file whose keys are the same names in lower case without the prefix. The
environment wins over the file. See docs/counter.md for the reference.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.format.keys import Verifier
from ledger.runtime.settings import ConfigError, list_setting, load_values

PREFIX = "BALLOT_COUNTER_"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    ledger_url: str = "http://127.0.0.1:8080"
    """Base URL of the ledger's public API."""
    ledger_keys: tuple[str, ...] = ()
    """Pinned ledger verifier strings. Empty: trust ``/v1/keys`` on first use (a warning)."""
    ledger_token: str | None = None
    """Counter bearer token of the ledger, to declare results. None: count but never declare."""
    elections: tuple[str, ...] = ()
    """Elections to follow. Empty: every election ``GET /v1/elections`` lists."""
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8090
    data_dir: Path = Path("var/counter")
    key_file: Path | None = None
    key_name: str = "ballot-ledger.local/counter"
    batch: int = 1000
    """Entries per request and per transaction."""
    wait: int = 25
    """Long-poll seconds per ``GET /entries`` request."""
    retry: float = 1.0
    """Seconds between attempts when the ledger cannot be reached (polling fallback)."""
    discover_interval: float = 10.0
    pool_size: int = 4
    log_format: str = "auto"
    header_timeout: float = 10.0
    """Seconds a connection has to send a request line and headers (``ledger.http.protocol``)."""
    metrics_host: str = "127.0.0.1"
    """Address of the private listener that serves ``GET /metrics`` (never the public API's)."""
    metrics_port: int = 8091


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "port": int,
    "metrics_port": int,
    "batch": int,
    "wait": int,
    "pool_size": int,
    "retry": float,
    "discover_interval": float,
    "header_timeout": float,
    "data_dir": Path,
    "key_file": Path,
    "ledger_keys": list_setting,
    "elections": list_setting,
}


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    values = load_values(
        Settings.__dataclass_fields__,
        prefix=PREFIX,
        config_var=PREFIX + "CONFIG",
        converters=_CONVERT,
        env=os.environ if env is None else env,
    )
    values.update(overrides)
    settings = Settings(**values)
    check(settings)
    return settings


def check(settings: Settings) -> None:
    """Refuse settings that cannot work, with the reason."""
    for text in settings.ledger_keys:
        try:
            Verifier.parse(text)
        except Exception as exc:
            raise ConfigError(f"BALLOT_COUNTER_LEDGER_KEYS: {exc}") from exc
    if not settings.ledger_url.startswith(("http://", "https://")):
        raise ConfigError("BALLOT_COUNTER_LEDGER_URL must be an http(s) URL")
    if settings.batch < 1 or settings.batch > 10000:
        raise ConfigError("BALLOT_COUNTER_BATCH must be between 1 and 10000")
    if not 0 <= settings.wait <= 60:
        raise ConfigError("BALLOT_COUNTER_WAIT must be between 0 and 60 seconds")
