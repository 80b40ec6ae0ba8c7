"""A DATABASE_URL no driver could use is a configuration error naming the variable, never its password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bluetick.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = {"META_APP_SECRET": "s"}


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:hunter2@127.0.0.1:notaport/db",
        "postgresql://u:hunter2@127.0.0.1:99999/db",
        "postgresql://u:hunter2@a:5432,b:x/db",
        "mysql://u:hunter2@127.0.0.1:3306/db",
        "u:hunter2@127.0.0.1:5432/db",
    ],
)
def test_a_malformed_database_url_is_refused_without_its_password(url: str):
    with pytest.raises(ConfigError, match="DATABASE_URL") as refused:
        load_settings({"DATABASE_URL": url, **SECRET})
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@127.0.0.1:5432/db",
        "postgres://u:p@db.example.invalid/db?sslmode=require",
        "postgresql://u:p@[::1]:6543/db",
        "postgresql://u:p@[::1]/db",
        "postgresql://u:p@a:5432,b:5433/db",
        "postgresql:///db?host=/var/run/postgresql",
    ],
)
def test_a_well_formed_database_url_is_taken(url: str):
    assert load_settings({"DATABASE_URL": url, **SECRET}).database_url == url


def test_the_service_exits_2_with_one_line_not_a_traceback():
    env = {**os.environ, "DATABASE_URL": "postgresql://u:hunter2@127.0.0.1:notaport/db", **SECRET}
    done = subprocess.run(
        [sys.executable, "main.py", "migrate"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.startswith("bluetick: configuration error: DATABASE_URL")
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr
