"""Connection strings behind a transaction-mode pooler (Supabase's on port 6543, PgBouncer)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SUPABASE_POOLER_PORT = 6543
DEFAULT_STATEMENT_CACHE = 100  # asyncpg's own default


def pooler_options(dsn: str, pooled: bool | None) -> tuple[str, int]:
    """The DSN asyncpg should use and its statement cache size.

    A transaction-mode pooler (Supabase's on port 6543, PgBouncer) cannot keep prepared statements, so the
    cache is turned off when `pooled` says so or, when it is None, when the URL does (port 6543 or
    `pgbouncer=true`, a flag that is removed since Postgres would refuse it as a setting).
    """
    parts = urlsplit(dsn)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "pgbouncer"]
    flagged = any(k == "pgbouncer" and v.lower() == "true" for k, v in parse_qsl(parts.query))
    if pooled is None:
        pooled = flagged or parts.port == SUPABASE_POOLER_PORT
    cleaned = urlunsplit(parts._replace(query=urlencode(query)))
    return cleaned, 0 if pooled else DEFAULT_STATEMENT_CACHE
