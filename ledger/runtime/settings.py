"""Configuration of the ledger service: environment variables, optionally a JSON file.

Every setting has an environment variable; ``BALLOT_LEDGER_CONFIG`` names a JSON file whose
keys are the same names in lower case without the prefix (``{"admin_tokens": ["…"]}``).
The environment wins over the file. See docs/configuration.md for the reference.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.errors import LedgerError


class ConfigError(LedgerError):
    """The configuration is not valid."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("var/ledger")
    key_file: Path | None = None
    key_name: str = "ballot-ledger.local/ledger"
    origin_prefix: str = "ballot-ledger.local"
    admin_tokens: tuple[str, ...] = ()
    frontend_tokens: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """token -> elections it may cast in (``*``: all)."""
    counter_tokens: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """token -> elections whose results it may declare (``*``: all)."""
    counter_keys: tuple[str, ...] = ()
    """Verifier strings of counter keys whose result declarations are accepted."""
    max_body_bytes: int = 256 * 1024
    max_roll_bytes: int = 512 * 1024 * 1024
    max_batch: int = 1000
    checkpoint_interval: float = 5.0
    release_every: float = 10.0
    """Mean seconds between release rounds' checks (each wait drawn from 0.5 to 1.5 times it
    with the operating system's random generator; never triggered by a ballot's arrival)."""
    db_role: str = "ballot_service"
    migrate: bool = True
    """Apply migrations at start. In production run `ballot ledger migrate` as the owner role
    and serve with this off, so the serving login owns nothing it could alter."""
    pool_size: int = 8
    log_format: str = "auto"
    header_timeout: float = 10.0
    """Seconds a connection has to send a request line and headers once it starts (or opens)."""
    metrics_host: str = "127.0.0.1"
    """Address of the private listener that serves ``GET /metrics`` (never the public API's)."""
    metrics_port: int = 8081


def _tokens(value: Any) -> dict[str, tuple[str, ...]]:
    """``{"tok": ["e1", "e2"]}`` or ``"tok=e1|e2,tok2=*"``."""
    if isinstance(value, Mapping):
        return {str(k): tuple(str(x) for x in v) for k, v in value.items()}
    out: dict[str, tuple[str, ...]] = {}
    for part in str(value).split(","):
        if not part.strip():
            continue
        token, _, scope = part.partition("=")
        if not token or not scope:
            raise ConfigError("a scoped token is TOKEN=ELECTION|ELECTION or TOKEN=*")
        out[token.strip()] = tuple(s.strip() for s in scope.split("|"))
    return out


def list_setting(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(x) for x in value)
    return tuple(x.strip() for x in str(value).split(",") if x.strip())


def bool_setting(value: Any) -> bool:
    """A boolean setting: 1/true/yes/on or 0/false/no/off, any case."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "migrate": bool_setting,
    "port": int,
    "metrics_port": int,
    "max_body_bytes": int,
    "max_roll_bytes": int,
    "max_batch": int,
    "pool_size": int,
    "checkpoint_interval": float,
    "release_every": float,
    "header_timeout": float,
    "data_dir": Path,
    "key_file": Path,
    "admin_tokens": list_setting,
    "counter_keys": list_setting,
    "frontend_tokens": _tokens,
    "counter_tokens": _tokens,
}


def load_values(
    fields: Iterable[str],
    *,
    prefix: str,
    config_var: str,
    converters: Mapping[str, Callable[[Any], Any]],
    env: Mapping[str, str],
    aliases: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Setting values from a JSON config file (``config_var``) and ``prefix + NAME`` environment
    variables (the environment wins), each converted to its type; unknown keys are an error."""
    values: dict[str, Any] = {}
    config = env.get(config_var)
    if config:
        try:
            values.update(json.loads(Path(config).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read {config}: {exc}") from exc
    names = set(fields)
    unknown = set(values) - names
    if unknown:
        raise ConfigError("unknown settings in the config file", unknown=sorted(unknown))
    for variable, name in (aliases or {}).items():
        if variable in env:
            values[name] = env[variable]
    for name in names:
        key = prefix + name.upper()
        if key in env:
            values[name] = env[key]
    for name, value in list(values.items()):
        if name in converters and value is not None and not isinstance(value, Path):
            try:
                values[name] = converters[name](value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"bad value for {name}: {exc}") from exc
    return values


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    values = load_values(
        Settings.__dataclass_fields__,
        prefix="BALLOT_",
        config_var="BALLOT_LEDGER_CONFIG",
        converters=_CONVERT,
        env=os.environ if env is None else env,
        aliases={"DATABASE_URL": "database_url"},
    )
    values.update(overrides)
    return Settings(**values)
