"""Settings, read once from the environment (and `.env`), validated at start-up."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
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


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _get(name: str, env: Mapping[str, str], default: T, parse: Callable[[str, str], T]) -> T:
    raw = env.get(name, "").strip()
    return parse(name, raw) if raw else default


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 8080
    database_url: str | None = None
    # True/False forces asyncpg's statement cache off/on; None decides from the URL (port 6543, pgbouncer=true).
    database_pooled: bool | None = None
    supabase_url: str | None = None
    supabase_service_role_key: str | None = None
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
    meta_app_secret: str | None = None
    aisensy_webhook_secret: str | None = None
    webhook_url_token: str | None = None
    api_token: str | None = None
    # Accept unsigned webhooks for organisations with no secret (the embedded dev default).
    allow_unsigned_webhooks: bool = False
    # Accept logging calls without a bearer token (only the embedded dev default with no API_TOKEN).
    open_api: bool = False
    secrets_refresh: timedelta = timedelta(seconds=30)
    log_level: str = "info"

    @property
    def durable(self) -> bool:
        return self.ack_mode == "durable"

    @property
    def backend(self) -> str:
        if self.database_url:
            return "postgres"
        return "supabase" if self.supabase_url else "embedded"

    @property
    def embedded(self) -> bool:
        return self.backend == "embedded"

    @property
    def global_webhook_secret(self) -> bool:
        return bool(self.meta_app_secret or self.aisensy_webhook_secret or self.webhook_url_token)

    def warnings(self) -> list[str]:
        """What start-up must say loudly about this configuration."""
        found = []
        if self.allow_unsigned_webhooks and not self.global_webhook_secret:
            found.append(
                "WEBHOOKS ARE NOT AUTHENTICATED: organisations without a secret in org_secrets accept "
                "unsigned posts. Set META_APP_SECRET, AISENSY_WEBHOOK_SECRET or WEBHOOK_URL_TOKEN."
            )
        if self.open_api:
            found.append("THE LOGGING API IS OPEN: set API_TOKEN so /v1/orgs/{org_id}/messages needs a bearer token.")
        return found


def load_settings(env: Mapping[str, str] | None = None, *, serving: bool = True) -> Settings:
    """Build Settings from `env` (default: the process environment after loading `.env`).

    The webhook-secret rule applies only to `serving`: a command that only reads (stats, sql) needs none.
    """
    if env is None:
        load_dotenv()
        env = os.environ
    d = Settings()
    settings = Settings(
        host=env.get("HOST", "").strip() or d.host,
        port=_int("PORT", env, d.port, minimum=1),
        database_url=env.get("DATABASE_URL", "").strip() or None,
        database_pooled=_get("DATABASE_POOLED", env, None, _bool),
        supabase_url=_secret("SUPABASE_URL", env),
        supabase_service_role_key=_secret("SUPABASE_SERVICE_ROLE_KEY", env),
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
        webhook_verify_token=_secret("WEBHOOK_VERIFY_TOKEN", env),
        meta_app_secret=_secret("META_APP_SECRET", env),
        aisensy_webhook_secret=_secret("AISENSY_WEBHOOK_SECRET", env),
        webhook_url_token=_secret("WEBHOOK_URL_TOKEN", env),
        api_token=_secret("API_TOKEN", env),
        secrets_refresh=_get("SECRETS_REFRESH", env, d.secrets_refresh, parse_duration),
        log_level=_choice("LOG_LEVEL", env, d.log_level, ("debug", "info", "warning", "error")),
    )
    _check_supabase(settings)
    unsigned = env.get("ALLOW_UNSIGNED_WEBHOOKS", "").strip()
    if serving and not unsigned and not settings.embedded and not settings.global_webhook_secret:
        raise ConfigError(
            "no webhook secret is configured for a shared database: set META_APP_SECRET, AISENSY_WEBHOOK_SECRET "
            "or WEBHOOK_URL_TOKEN; or ALLOW_UNSIGNED_WEBHOOKS=false to rely on org_secrets alone, "
            "or ALLOW_UNSIGNED_WEBHOOKS=true to accept unsigned posts"
        )
    return replace(
        settings,
        allow_unsigned_webhooks=_bool("ALLOW_UNSIGNED_WEBHOOKS", unsigned) if unsigned else settings.embedded,
        open_api=settings.embedded and settings.api_token is None,
    )


def _check_supabase(settings: Settings) -> None:
    url, key = settings.supabase_url, settings.supabase_service_role_key
    if settings.database_url or (url is None and key is None):
        return
    if url is None or key is None:
        missing = "SUPABASE_URL" if url is None else "SUPABASE_SERVICE_ROLE_KEY"
        raise ConfigError(
            f"{missing} is not set: the Supabase backend needs both SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"
        )
    if not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(f"SUPABASE_URL must look like https://<project>.supabase.co, got {url[:60]!r}")
    from bluetick.store.supabase import key_role

    role = key_role(key)
    if role == "anon":
        raise ConfigError(
            "SUPABASE_SERVICE_ROLE_KEY holds the anon (public) key; bluetick needs the "
            "service_role key (Project Settings > API), which writes past row-level security"
        )
    if role != "service_role":
        raise ConfigError("SUPABASE_SERVICE_ROLE_KEY is not a Supabase service role key")


def _secret(name: str, env: Mapping[str, str]) -> str | None:
    return env.get(name, "").strip() or None
