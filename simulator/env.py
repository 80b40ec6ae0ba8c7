"""What the simulator takes from the service's own settings (the same variables and `.env`), read in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bluetick.client import ClientSettings
from bluetick.config import load, load_settings
from simulator.send import Secrets


@dataclass(frozen=True, slots=True)
class Environment:
    """The running service's settings the simulator needs."""

    port: int
    secrets: Secrets
    database_url: str | None
    supabase: bool
    data_dir: Path


def read_environment() -> Environment:
    """The service's settings as `load_settings` reads them (`.env` included), for a read-only command."""
    settings = load_settings(serving=False)
    return Environment(
        port=settings.port,
        secrets=Secrets(
            api_token=settings.api_token or load(ClientSettings, os.environ).api_token,
            meta_app_secret=settings.meta_app_secret,
            aisensy_secret=settings.aisensy_webhook_secret,
            url_token=settings.webhook_url_token,
        ),
        database_url=settings.database_url,
        supabase=settings.supabase_url is not None,
        data_dir=settings.data_dir,
    )
