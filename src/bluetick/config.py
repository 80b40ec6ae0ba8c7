"""Settings, declared once with `setting`, read from the environment (and `.env`), validated at start-up."""

from __future__ import annotations

import os
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

from dotenv import load_dotenv

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
D = TypeVar("D", bound="DataclassInstance")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """How one dataclass field is read from the environment, and how it is documented."""

    env: str
    doc: str
    minimum: int | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False
    # For a default that depends on other settings: what the docs show instead of the field's default.
    default_doc: str | None = None


_SPEC = "bluetick.setting"


def setting(
    env: str,
    default: T,
    doc: str,
    *,
    minimum: int | None = None,
    choices: tuple[str, ...] = (),
    secret: bool = False,
    default_doc: str | None = None,
) -> T:
    """A dataclass field read from the variable `env`; a secret is left out of the repr."""
    spec = SettingSpec(env, doc, minimum, choices, secret, default_doc)
    return field(default=default, repr=not secret, metadata={_SPEC: spec})


def declared(cls: type[DataclassInstance]) -> dict[str, SettingSpec]:
    """The declared settings of `cls`, by field name, in declaration order."""
    return {f.name: f.metadata[_SPEC] for f in fields(cls) if _SPEC in f.metadata}


def load(cls: type[D], env: Mapping[str, str]) -> D:
    """An instance of `cls` from `env`: an unset or empty variable keeps the field's default."""
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, spec in declared(cls).items():
        raw = env.get(spec.env, "").strip()
        if raw:
            values[name] = _parse(spec, _unoptional(hints[name]), raw)
    return cls(**values)


def _unoptional(hint: Any) -> Any:
    if get_origin(hint) in (Union, types.UnionType):
        (inner,) = (arg for arg in get_args(hint) if arg is not type(None))
        return inner
    return hint


def _parse(spec: SettingSpec, kind: Any, raw: str) -> object:
    name = spec.env
    if spec.choices:
        value = raw.lower()
        if value not in spec.choices:
            raise ConfigError(f"{name} must be one of {', '.join(spec.choices)}, got {value!r}")
        return value
    parsed = _PARSERS[kind](name, raw)
    if spec.minimum is not None and isinstance(parsed, int) and parsed < spec.minimum:
        raise ConfigError(f"{name} must be at least {spec.minimum}, got {parsed}")
    return parsed


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


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


_PARSERS: dict[Any, Callable[[str, str], object]] = {
    str: lambda name, raw: raw,
    int: _int,
    bool: _bool,
    timedelta: parse_duration,
    Path: lambda name, raw: Path(raw),
}


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = setting("HOST", "0.0.0.0", "address to listen on")
    port: int = setting("PORT", 8080, "port to listen on", minimum=1)
    database_url: str | None = setting(
        "DATABASE_URL", None, "Postgres connection string; unset = the embedded Postgres", secret=True
    )
    database_pooled: bool | None = setting(
        "DATABASE_POOLED",
        None,
        "`true`/`false` turns asyncpg's statement cache off/on; unset = decided from the URL "
        "(port 6543 or `pgbouncer=true`)",
    )
    supabase_url: str | None = setting(
        "SUPABASE_URL", None, "the Supabase REST backend, `https://<project>.supabase.co`"
    )
    supabase_service_role_key: str | None = setting(
        "SUPABASE_SERVICE_ROLE_KEY", None, "the project's service_role key (not the anon key)", secret=True
    )
    data_dir: Path = setting(  # noqa: RUF009 - setting() returns a dataclasses.field
        "BLUETICK_DATA_DIR",
        Path(".bluetick"),
        "where the embedded Postgres keeps its data",
    )
    ack_mode: str = setting(
        "ACK_MODE",
        "durable",
        "`durable`: 200 only after the batch committed; `immediate`: 200 at once, applied in the background",
        choices=("durable", "immediate"),
    )
    ack_timeout_ms: int = setting(
        "ACK_TIMEOUT_MS", 5000, "in durable mode, a webhook whose batch has not committed by then gets 503", minimum=1
    )
    batch_max: int = setting("BATCH_MAX", 500, "most events applied in one SQL call", minimum=1)
    batch_interval_ms: int = setting(
        "BATCH_INTERVAL_MS", 0, "longest wait for a batch to fill when none is being applied", minimum=0
    )
    queue_max: int = setting(
        "QUEUE_MAX", 50_000, "events held in memory (queued or in flight) before new webhooks get 503", minimum=1
    )
    flush_workers: int = setting("FLUSH_WORKERS", 2, "batches applied concurrently", minimum=1)
    db_pool_size: int = setting("DB_POOL_SIZE", 4, "database connections per process", minimum=1)
    db_timeout_ms: int = setting(
        "DB_TIMEOUT_MS", 10_000, "longest a batch's database call may take before it is retried", minimum=1
    )
    max_body_bytes: int = setting(
        "MAX_BODY_BYTES", 1_048_576, "largest webhook or API body accepted; larger ones get 413", minimum=1
    )
    client_timeout_s: int = setting(
        "CLIENT_TIMEOUT_S",
        10,
        "longest a client may take to send a request's headers (then the connection is closed) or its body "
        "(then 408), or stay idle between requests; a proxy in front should enforce its own such timeouts too",
        minimum=1,
    )
    orphan_ttl: timedelta = setting(  # noqa: RUF009 - setting() returns a dataclasses.field
        "ORPHAN_TTL",
        timedelta(days=7),
        "parked statuses (for messages never logged) and seen delivery ids older than this are purged",
    )
    inbox_ttl: timedelta = setting(  # noqa: RUF009 - setting() returns a dataclasses.field
        "INBOX_TTL",
        timedelta(days=30),
        "webhook bodies kept in the inbox (not completely understood) older than this are purged",
    )
    purge_interval: timedelta = setting(  # noqa: RUF009 - setting() returns a dataclasses.field
        "PURGE_INTERVAL",
        timedelta(hours=1),
        "how often the purge runs",
    )
    retention_days: int | None = setting(
        "RETENTION_DAYS",
        None,
        "message text and customer identifiers older than this many days are erased by the purge, for "
        "organisations without their own `org_settings.retention_days`; unset = kept",
        minimum=1,
    )
    retention_batch: int = setting(
        "RETENTION_BATCH", 1000, "most rows the retention purge erases in one transaction", minimum=1
    )
    retention_pause_ms: int = setting(
        "RETENTION_PAUSE_MS", 100, "the retention purge's pause between two batches, left to ingest", minimum=0
    )
    report_refresh_s: int = setting(
        "REPORT_REFRESH_S",
        60,
        "how often the report's rollups are recomputed for the hours written since; 0 = only when a report is read",
        minimum=0,
    )
    events_ttl: timedelta = setting(  # noqa: RUF009 - setting() returns a dataclasses.field
        "EVENTS_TTL",
        timedelta(days=7),
        "events (the feed and webhook deliveries) older than this are dropped, a day's partition at a time",
    )
    webhook_retry_for: timedelta = setting(  # noqa: RUF009 - setting() returns a dataclasses.field
        "WEBHOOK_RETRY_FOR",
        timedelta(days=3),
        "a subscription whose deliveries keep failing is retried with backoff this long, then marked failing",
    )
    webhook_timeout_s: int = setting(
        "WEBHOOK_TIMEOUT_S", 10, "how long one delivery to a subscriber may take before it counts as failed", minimum=1
    )
    webhook_rotate_overlap: timedelta = setting(  # noqa: RUF009 - setting() returns a dataclasses.field
        "WEBHOOK_ROTATE_OVERLAP",
        timedelta(hours=24),
        "after a subscription's secret is rotated, deliveries carry both signatures this long",
    )
    subscriptions_allow_private: bool = setting(
        "SUBSCRIPTIONS_ALLOW_PRIVATE",
        False,
        "allow subscription URLs on loopback, private or link-local addresses, and plain http (for tests and "
        "receivers on the same network); off, only https URLs resolving to public addresses are accepted",
    )
    public_url: str | None = setting(
        "PUBLIC_URL",
        None,
        "the service's public base URL, such as `https://t.example.com`, that tracked links (`/l/<token>`) start "
        "with; unset = the scheme and host the link request was sent to",
    )
    shutdown_drain_s: int = setting(
        "SHUTDOWN_DRAIN_S", 15, "on shutdown, how long to keep trying to apply queued events", minimum=0
    )
    webhook_verify_token: str | None = setting(
        "WEBHOOK_VERIFY_TOKEN",
        None,
        "Meta's subscription handshake (`GET /webhooks/{org_id}`); unset = the handshake is refused",
        secret=True,
    )
    meta_app_secret: str | None = setting(
        "META_APP_SECRET",
        None,
        "Meta's app secret (`X-Hub-Signature-256`), for organisations without their own",
        secret=True,
    )
    aisensy_webhook_secret: str | None = setting(
        "AISENSY_WEBHOOK_SECRET",
        None,
        "AiSensy's secret (`X-AiSensy-Signature`), for organisations without their own",
        secret=True,
    )
    twilio_auth_token: str | None = setting(
        "TWILIO_AUTH_TOKEN",
        None,
        "Twilio's auth token (`X-Twilio-Signature` on form-encoded callbacks), for organisations without their own",
        secret=True,
    )
    webhook_url_token: str | None = setting(
        "WEBHOOK_URL_TOKEN",
        None,
        "master key of each organisation's `?token=` on the webhook URL, for accounts that cannot sign",
        secret=True,
    )
    api_token: str | None = setting(
        "API_TOKEN",
        None,
        "bearer token of the logging API, for organisations without their own `api_token` (`org_secrets`); "
        "unset with the embedded default = open",
        secret=True,
    )
    # load_settings derives the default: true for the embedded dev default, else false or a refusal to start.
    allow_unsigned_webhooks: bool = setting(
        "ALLOW_UNSIGNED_WEBHOOKS",
        False,
        "`true`: accept unsigned posts for organisations with no secret; `false`: refuse them; unset with a "
        "shared database and no global webhook secret: refuse to start",
        default_doc="`true` if embedded, else `false`",
    )
    # Accept logging calls without a bearer token (only the embedded dev default with no API_TOKEN).
    open_api: bool = False
    secrets_refresh: timedelta = setting(  # noqa: RUF009 - setting() returns a dataclasses.field
        "SECRETS_REFRESH", timedelta(seconds=30), "how often `org_secrets` is reloaded"
    )
    log_level: str = setting(
        "LOG_LEVEL", "info", "`debug`, `info`, `warning` or `error`", choices=("debug", "info", "warning", "error")
    )
    event_loop: str = setting(
        "EVENT_LOOP",
        "uvloop",
        "`uvloop` (faster, see the bench) or `asyncio`, the standard library's loop",
        choices=("uvloop", "asyncio"),
    )

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
        return bool(
            self.meta_app_secret or self.aisensy_webhook_secret or self.twilio_auth_token or self.webhook_url_token
        )

    def warnings(self) -> list[str]:
        """What start-up must say loudly about this configuration."""
        found = []
        if self.allow_unsigned_webhooks and not self.global_webhook_secret:
            found.append(
                "WEBHOOKS ARE NOT AUTHENTICATED: organisations without a secret in org_secrets accept "
                "unsigned posts. Set META_APP_SECRET, AISENSY_WEBHOOK_SECRET, TWILIO_AUTH_TOKEN or WEBHOOK_URL_TOKEN."
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
    settings = load(Settings, env)
    _check_database_url(settings.database_url)
    _check_supabase(settings)
    _check_public_url(settings.public_url)
    unsigned_given = bool(env.get(declared(Settings)["allow_unsigned_webhooks"].env, "").strip())
    if serving and not unsigned_given and not settings.embedded and not settings.global_webhook_secret:
        raise ConfigError(
            "no webhook secret is configured for a shared database: set META_APP_SECRET, AISENSY_WEBHOOK_SECRET, "
            "TWILIO_AUTH_TOKEN or WEBHOOK_URL_TOKEN; or ALLOW_UNSIGNED_WEBHOOKS=false to rely on org_secrets alone, "
            "or ALLOW_UNSIGNED_WEBHOOKS=true to accept unsigned posts"
        )
    return replace(
        settings,
        allow_unsigned_webhooks=settings.allow_unsigned_webhooks if unsigned_given else settings.embedded,
        open_api=settings.embedded and settings.api_token is None,
    )


def _check_database_url(url: str | None) -> None:
    """Refuse a DATABASE_URL that no driver could use, naming what is wrong but never the password."""
    if url is None:
        return
    shape = "postgresql://user:password@host:port/database"
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ConfigError(f"DATABASE_URL must be a Postgres connection string like {shape}")
    for host in parts.netloc.rpartition("@")[2].split(","):
        port = "" if host.endswith("]") or ":" not in host else host.rpartition(":")[2]
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise ConfigError(f"DATABASE_URL has a port that is not a port number ({port[:20]!r}): use {shape}")


def _check_public_url(url: str | None) -> None:
    if url is not None and not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", url):
        raise ConfigError(f"PUBLIC_URL must be an http(s) base URL like https://t.example.com, got {url[:60]!r}")


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
