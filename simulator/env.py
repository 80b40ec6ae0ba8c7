"""What the simulator takes from the environment, read in one place: the service's port, credentials and database."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from simulator.send import Secrets


@dataclass(frozen=True, slots=True)
class Environment:
    """The running service's settings the simulator needs (the same variables and `.env` as the service)."""

    port: str
    secrets: Secrets
    database_url: str | None
    supabase: bool
    data_dir: Path


def read_environment() -> Environment:
    """Load `.env` as the service does, then read its port, tokens, signing secrets and database."""
    from dotenv import load_dotenv

    load_dotenv()
    env = os.environ
    return Environment(
        port=env.get("PORT", "").strip() or "8080",
        secrets=Secrets(
            api_token=env.get("API_TOKEN") or env.get("BLUETICK_API_TOKEN") or None,
            meta_app_secret=env.get("META_APP_SECRET") or None,
            aisensy_secret=env.get("AISENSY_WEBHOOK_SECRET") or None,
            url_token=env.get("WEBHOOK_URL_TOKEN") or None,
        ),
        database_url=env.get("DATABASE_URL", "").strip() or None,
        supabase=bool(env.get("SUPABASE_URL", "").strip()),
        data_dir=Path(env.get("BLUETICK_DATA_DIR", "").strip() or ".bluetick"),
    )
