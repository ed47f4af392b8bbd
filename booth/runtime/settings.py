"""Configuration of the booth: environment variables ``BALLOT_BOOTH_<NAME>``, optionally a JSON
file named by ``BALLOT_BOOTH_CONFIG`` (same names, lower case, no prefix); the environment wins
over the file. The reference is docs/configuration.md, "Booth".
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.runtime.keyfile import write_new_private
from ledger.runtime.settings import ConfigError, bool_setting, load_values

PREFIX = "BALLOT_BOOTH_"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    ledger_url: str = "http://127.0.0.1:8080"
    """Base URL of the ledger the booth casts through (``--ledger``)."""
    ledger_public_url: str | None = None
    """The ledger's URL as voters reach it (the receipt check page's). None: ``ledger_url``."""
    ledger_token: str | None = None
    """The ledger's front-end token (``BALLOT_FRONTEND_TOKENS``) for the booth's elections."""
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8070
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 8071
    data_dir: Path = Path("var/booth")
    secret_file: Path | None = None
    """The key of the codes' keyed hashes. None: ``DATA_DIR/booth.secret`` (created if missing)."""
    session_minutes: float = 30.0
    address_limit: int = 20
    """Wrong codes one address may try per ``limit_window`` seconds."""
    code_limit: int = 5
    """Times one wrong code may be tried per ``limit_window`` seconds (from any address)."""
    limit_window: float = 900.0
    cast_attempts: int = 4
    """Tries of one submission when the ledger cannot be reached (the same submission id)."""
    cookie_secure: bool = False
    """Mark cookies ``Secure`` (set it behind HTTPS, which production must use)."""
    pool_size: int = 4
    log_format: str = "auto"
    header_timeout: float = 10.0

    @property
    def public_ledger(self) -> str:
        return (self.ledger_public_url or self.ledger_url).rstrip("/")


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "port": int,
    "metrics_port": int,
    "session_minutes": float,
    "address_limit": int,
    "code_limit": int,
    "limit_window": float,
    "cast_attempts": int,
    "cookie_secure": bool_setting,
    "pool_size": int,
    "header_timeout": float,
    "data_dir": Path,
    "secret_file": Path,
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
    for url in (settings.ledger_url, settings.public_ledger):
        if not url.startswith(("http://", "https://")):
            raise ConfigError("BALLOT_BOOTH_LEDGER_URL and _PUBLIC_URL must be http(s) URLs")
    if settings.cast_attempts < 1:
        raise ConfigError("BALLOT_BOOTH_CAST_ATTEMPTS must be at least 1")
    return settings


def load_secret(settings: Settings) -> bytes:
    """The booth's secret (32 random bytes, hex in a file), created (mode 0600) if missing."""
    path = settings.secret_file or settings.data_dir / "booth.secret"
    if path.exists():
        text = path.read_text().strip()
        try:
            secret = bytes.fromhex(text)
        except ValueError as exc:
            raise ConfigError(f"{path}: the booth secret is 64 hex digits") from exc
        if len(secret) < 32:
            raise ConfigError(f"{path}: the booth secret is 64 hex digits")
        return secret
    secret = os.urandom(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_new_private(path, secret.hex() + "\n")
    return secret
