"""The connection string of the configured database, for what runs its own SQL (the commands, the report)."""

from __future__ import annotations

from bluetick.config import ConfigError, Settings


def dsn_of(settings: Settings) -> str:
    """DATABASE_URL, else the embedded server's (started or attached to); Supabase's REST API has none."""
    if settings.database_url:
        return settings.database_url
    if settings.backend == "supabase":
        raise ConfigError(
            "this command runs SQL over a database connection, which Supabase's REST API "
            "cannot give: set DATABASE_URL to the project's connection string"
        )
    from bluetick.store import embedded

    return embedded.start(settings.data_dir)
