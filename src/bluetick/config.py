"""Settings, read once from the environment (and `.env`), validated at start-up."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from dotenv import load_dotenv

T = TypeVar("T")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _int(name: str, env: Mapping[str, str], default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _choice(name: str, env: Mapping[str, str], default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


_DURATION = re.compile(r"^(\d+)\s*([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(name: str, raw: str) -> timedelta:
    """`90`, `90s`, `15m`, `12h` or `7d`."""
    match = _DURATION.match(raw.strip().lower())
    if not match:
        raise ConfigError(f"{name} must be a duration like 3600, 90s, 15m, 12h or 7d, got {raw!r}")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def _get(name: str, env: Mapping[str, str], default: T, parse: Callable[[str, str], T]) -> T:
    raw = env.get(name, "").strip()
    return parse(name, raw) if raw else default


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 8080
    database_url: str | None = None
    data_dir: Path = Path(".bluetick")
    ack_mode: str = "durable"
    ack_timeout_ms: int = 5000
    batch_max: int = 500
    batch_interval_ms: int = 2
    queue_max: int = 50_000
    flush_workers: int = 2
    db_pool_size: int = 4
    db_timeout_ms: int = 10_000
    max_body_bytes: int = 1_048_576
    orphan_ttl: timedelta = timedelta(days=7)
    purge_interval: timedelta = timedelta(hours=1)
    shutdown_drain_s: int = 15
    webhook_verify_token: str | None = None
    log_level: str = "info"

    @property
    def durable(self) -> bool:
        return self.ack_mode == "durable"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from `env` (default: the process environment after loading `.env`)."""
    if env is None:
        load_dotenv()
        env = os.environ
    d = Settings()
    return Settings(
        host=env.get("HOST", "").strip() or d.host,
        port=_int("PORT", env, d.port, minimum=1),
        database_url=env.get("DATABASE_URL", "").strip() or None,
        data_dir=Path(env.get("BLUETICK_DATA_DIR", "").strip() or d.data_dir),
        ack_mode=_choice("ACK_MODE", env, d.ack_mode, ("durable", "immediate")),
        ack_timeout_ms=_int("ACK_TIMEOUT_MS", env, d.ack_timeout_ms, minimum=1),
        batch_max=_int("BATCH_MAX", env, d.batch_max, minimum=1),
        batch_interval_ms=_int("BATCH_INTERVAL_MS", env, d.batch_interval_ms),
        queue_max=_int("QUEUE_MAX", env, d.queue_max, minimum=1),
        flush_workers=_int("FLUSH_WORKERS", env, d.flush_workers, minimum=1),
        db_pool_size=_int("DB_POOL_SIZE", env, d.db_pool_size, minimum=1),
        db_timeout_ms=_int("DB_TIMEOUT_MS", env, d.db_timeout_ms, minimum=1),
        max_body_bytes=_int("MAX_BODY_BYTES", env, d.max_body_bytes, minimum=1),
        orphan_ttl=_get("ORPHAN_TTL", env, d.orphan_ttl, parse_duration),
        purge_interval=_get("PURGE_INTERVAL", env, d.purge_interval, parse_duration),
        shutdown_drain_s=_int("SHUTDOWN_DRAIN_S", env, d.shutdown_drain_s),
        webhook_verify_token=env.get("WEBHOOK_VERIFY_TOKEN", "").strip() or None,
        log_level=_choice("LOG_LEVEL", env, d.log_level, ("debug", "info", "warning", "error")),
    )
