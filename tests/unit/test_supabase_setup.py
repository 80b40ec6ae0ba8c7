"""Supabase set-up: the CLI's migration layout carries every change of sql/; bad keys or URLs are refused clearly."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bluetick.config import ConfigError, load_settings
from bluetick.store import SQL
from bluetick.store.migrations import (
    BUNDLE_SUFFIX,
    LAST_LEGACY_MIGRATION,
    LEGACY_REPEATABLE,
    LEGACY_VERSION_BASE,
    STUB,
    SqlFile,
    sql_files,
    write_supabase_layout,
)
from tests.supabase_emulation import ANON_KEY, SERVICE_KEY

URL = "https://abcdefghij.supabase.co"
SQL_934DAE0 = Path(__file__).resolve().parents[1] / "fixtures" / "sql_934dae0"
NOW = datetime(2026, 12, 4, 18, 0, 0, tzinfo=UTC)


def layout_versions(folder: Path) -> list[str]:
    """The folder's files in the order the Supabase CLI applies them: by the version their name starts with."""
    return sorted((p.name for p in folder.glob("*.sql")), key=lambda name: int(name.partition("_")[0]))


def new_migrations() -> list[SqlFile]:
    """The migrations released after 934dae0's layout, which get versions of their own."""
    return [f for f in sql_files() if f.version and f.version > LAST_LEGACY_MIGRATION]


def sql_copy(tmp_path: Path) -> Path:
    assert isinstance(SQL, Path)
    return Path(shutil.copytree(SQL, tmp_path / "sql"))


def test_a_new_layout_holds_every_migration_in_order_then_all_repeatable_sql_once(tmp_path: Path):
    target = tmp_path / "supabase" / "migrations"
    written = write_supabase_layout(target, NOW)
    names = layout_versions(target)
    assert sorted(p.name for p in written) == sorted(names)
    versioned = [f for f in sql_files() if f.version is not None]
    stubs = [n for n in names if (target / n).read_text() == STUB]
    new = [f for f in versioned if f.version and f.version > LAST_LEGACY_MIGRATION]
    assert [n for n in names if n not in stubs][: len(versioned)] == [
        f"{LEGACY_VERSION_BASE + f.version}_{f.name.partition('_')[2]}" for f in versioned if f not in new
    ] + [f"{20261204180000 + i}_{f.name.partition('/')[2]}" for i, f in enumerate(new)], "later ones get new versions"
    assert [(target / n).read_text() for n in names if n not in stubs][: len(versioned)] == [f.text for f in versioned]
    assert len(stubs) == len(LEGACY_REPEATABLE), "the versions 934dae0 gave the analytics files are kept as stubs"
    bundle = target / names[-1]
    assert bundle.name == f"{20261204180000 + len(new)}{BUNDLE_SUFFIX}"
    text = bundle.read_text()
    for file in (f for f in sql_files() if f.version is None):
        assert file.text in text and f"('{file.name}', null, '{file.checksum}')" in text
    assert write_supabase_layout(target, NOW) == [], "a layout that is up to date writes nothing"


def test_a_changed_function_gets_a_new_version_and_the_old_one_becomes_a_stub(tmp_path: Path):
    target = tmp_path / "supabase" / "migrations"
    write_supabase_layout(target, NOW)
    first = layout_versions(target)[-1]
    copy = sql_copy(tmp_path)
    merge = copy / "functions" / "apply_batch.sql"
    merge.write_text(merge.read_text() + "-- reworded\n")
    written = write_supabase_layout(target, NOW, sql=copy)
    assert [p.name for p in written] == [first, f"{20261204180001 + len(new_migrations())}{BUNDLE_SUFFIX}"]
    assert (target / first).read_text() == STUB
    assert "-- reworded" in (target / layout_versions(target)[-1]).read_text()


def test_a_new_migration_goes_above_every_version_in_the_folder_before_the_repeatable_sql(tmp_path: Path):
    target = tmp_path / "supabase" / "migrations"
    write_supabase_layout(target, NOW)
    copy = sql_copy(tmp_path)
    (copy / "migrations" / "0090_next.sql").write_text("create table bluetick_next (id int);\n")
    later = NOW.replace(year=2027)
    write_supabase_layout(target, later, sql=copy)
    assert layout_versions(target)[-2:] == ["20271204180000_0090_next.sql", f"20271204180001{BUNDLE_SUFFIX}"]
    assert "('migrations/0090_next.sql', 90, " in (target / f"20271204180001{BUNDLE_SUFFIX}").read_text()


def test_the_layout_of_934dae0_is_kept_as_history(tmp_path: Path):
    """934dae0 linked each file under 20250101 + its number; a project that pushed it keeps those versions."""
    target = tmp_path / "supabase" / "migrations"
    target.mkdir(parents=True)
    for folder in ("migrations", "analytics"):
        for source in sorted((SQL_934DAE0 / folder).glob("*.sql")):
            number, _, rest = source.name.partition("_")
            (target / f"{LEGACY_VERSION_BASE + int(number)}_{rest}").symlink_to(source)
    before = layout_versions(target)
    written = write_supabase_layout(target, NOW)
    new = [f"{20261204180000 + i}_{f.name.partition('/')[2]}" for i, f in enumerate(new_migrations())]
    bundle = f"{20261204180000 + len(new)}{BUNDLE_SUFFIX}"
    assert layout_versions(target) == [*before, *new, bundle]
    assert all(not (target / name).is_symlink() for name in before if int(name[:14]) > 20250101000013)
    assert {p.name for p in written} == {n for n in before if int(n[:14]) > 20250101000013} | {*new, bundle}, (
        "released migrations are left as they are; the analytics versions become stubs"
    )


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
    # `stats`, `report` and `campaign-recipients` read through the REST API (test_supabase_reads.py); these run SQL
    for command in (["migrate"], ["sql", "-c", "select 1"]):
        assert main.main(command) == 2
        assert "set DATABASE_URL" in capsys.readouterr().err


def test_read_only_commands_need_no_webhook_secret():
    settings = load_settings({"DATABASE_URL": "postgresql://x/y"}, serving=False)
    assert settings.backend == "postgres" and not settings.allow_unsigned_webhooks
