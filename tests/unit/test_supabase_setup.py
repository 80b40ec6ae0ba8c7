"""Supabase set-up: the CLI's migration layout mirrors sql/, and bad keys or URLs are refused clearly."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from bluetick.config import ConfigError, load_settings
from bluetick.store.migrations import migration_files, supabase_migration_name, write_supabase_layout
from tests.supabase_emulation import ANON_KEY, SERVICE_KEY

URL = "https://abcdefghij.supabase.co"
SUPABASE_MIGRATIONS = Path(__file__).resolve().parents[2] / "supabase" / "migrations"


def test_supabase_migrations_link_every_sql_file_in_the_same_order():
    sources = migration_files()
    expected = [supabase_migration_name(p) for p in sources]
    assert expected == sorted(expected), "Supabase applies by version: it must match bluetick's order"
    assert sorted(p.name for p in SUPABASE_MIGRATIONS.glob("*.sql")) == expected
    for source, name in zip(sources, expected, strict=True):
        link = SUPABASE_MIGRATIONS / name
        assert link.is_symlink() and link.resolve() == source.resolve(), "run: python main.py supabase-layout"


def test_supabase_layout_links_every_sql_file_from_anywhere(tmp_path: Path):
    links = write_supabase_layout(tmp_path / "project" / "supabase" / "migrations")
    assert [link.resolve() for link in links] == [source.resolve() for source in migration_files()]
    assert all(not link.readlink().is_absolute() for link in links)


def test_the_anon_key_is_refused_at_start_up():
    for anon in (ANON_KEY, "sb_publishable_abc123"):
        with pytest.raises(ConfigError, match="anon"):
            load_settings({"SUPABASE_URL": URL, "SUPABASE_SERVICE_ROLE_KEY": anon})
    settings = load_settings({"SUPABASE_URL": URL, "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY, "META_APP_SECRET": "s"})
    assert settings.backend == "supabase"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SUPABASE_URL": "abcdefghij.supabase.co", "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY}, "SUPABASE_URL"),
        ({"SUPABASE_URL": URL}, "SUPABASE_SERVICE_ROLE_KEY"),
        ({"SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY}, "SUPABASE_URL"),
        ({"SUPABASE_URL": URL, "SUPABASE_SERVICE_ROLE_KEY": "not-a-key"}, "not a Supabase service role key"),
    ],
)
def test_a_wrong_supabase_setting_is_named(env: dict[str, str], message: str):
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_a_supabase_backend_needs_webhook_secrets_like_any_shared_database():
    with pytest.raises(ConfigError, match="ALLOW_UNSIGNED_WEBHOOKS"):
        load_settings({"SUPABASE_URL": URL, "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY})


def test_commands_that_run_sql_refuse_a_rest_only_supabase_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    import main

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SUPABASE_URL", URL)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", SERVICE_KEY)
    assert main.main(["stats", "--org", str(uuid.uuid4())]) == 2
    assert "set DATABASE_URL" in capsys.readouterr().err


def test_read_only_commands_need_no_webhook_secret():
    settings = load_settings({"DATABASE_URL": "postgresql://x/y"}, serving=False)
    assert settings.backend == "postgres" and not settings.allow_unsigned_webhooks
