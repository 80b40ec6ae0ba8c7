"""The schema's SQL files and how they reach a database: `migrate` over asyncpg, or a Supabase CLI layout.

docs/design.md, Migrations.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources.abc import Traversable
from pathlib import Path

import asyncpg

from bluetick.store import SQL
from bluetick.store.pooler import pooler_options

log = logging.getLogger("bluetick.store")

# The repeatable folders, in the order they are applied after the versioned migrations. A folder missing from a
# tree (an older release's, in the upgrade tests) is simply empty.
REPEATABLE = ("functions", "analytics")

MIGRATION_LOCK = 7_361_001
MIGRATION_LOCK_TIMEOUT = "5s"
_RECORDED = "select name, version, checksum from bluetick_migrations"
_RECORD = """
insert into bluetick_migrations (name, version, checksum) values ($1, $2, $3)
on conflict (name) do update set checksum = excluded.checksum, applied_at = now()
"""


class MigrationError(RuntimeError):
    """The database's record of applied migrations disagrees with this package's files."""


@dataclass(frozen=True, slots=True)
class SqlFile:
    name: str  # the path under sql/: migrations/0002_merge.sql, functions/apply_batch.sql, analytics/0101_timeline.sql
    version: int | None  # a versioned migration's number; None for a repeatable file
    checksum: str
    text: str


@dataclass(frozen=True, slots=True)
class Recorded:
    version: int | None
    checksum: str


def sql_files(sql: Traversable = SQL) -> list[SqlFile]:
    """The package's migrations, versioned then repeatable, each with the checksum that records it."""
    files = [_sql_file(f, "migrations", versioned=True) for f in versioned_files(sql)]
    files += [_sql_file(f, folder, versioned=False) for folder in REPEATABLE for f in _sql_files(sql / folder)]
    numbers = [f.version for f in files if f.version is not None]
    if len(set(numbers)) != len(numbers):
        twice = sorted(f.name for f in files if f.version is not None and numbers.count(f.version) > 1)
        raise MigrationError(f"two migrations share a number: {', '.join(twice)}; renumber the newer one")
    return files


def _sql_file(source: Traversable, folder: str, versioned: bool) -> SqlFile:
    text = source.read_text().replace("\r\n", "\n")  # a checkout's line endings are not an edit
    name = f"{folder}/{source.name}"
    number = source.name.partition("_")[0]
    if versioned and not number.isdigit():
        raise MigrationError(f"{name}: a migration's name starts with its number, like 0006_name.sql")
    checksum = hashlib.sha256(text.encode()).hexdigest()
    return SqlFile(name, int(number) if versioned else None, checksum, text)


def schema_version(files: list[SqlFile] | None = None) -> int:
    """The number of the latest versioned migration: the version a migrated database is at."""
    return max(f.version or 0 for f in files or sql_files())


def pending(files: list[SqlFile], recorded: dict[str, Recorded]) -> list[SqlFile]:
    """What migrate() must apply, in order (docs/design.md, Migrations); raises MigrationError, naming the
    file, when a recorded migration no longer matches this package's files."""
    latest = schema_version(files)
    newer = sorted(name for name, row in recorded.items() if (row.version or 0) > latest)
    if newer:
        log.warning("migrations skipped: the database is ahead of this code version=%d newer=%s", latest, newer)
        return []
    shipped = {f.name: f for f in files}
    for name, row in recorded.items():
        if row.version is None:
            continue
        if name not in shipped:
            raise MigrationError(f"{name} is recorded as applied, but this package does not ship it")
        if shipped[name].checksum != row.checksum:
            raise MigrationError(
                f"{name} was edited after it was applied (recorded checksum {row.checksum[:12]}, "
                f"file {shipped[name].checksum[:12]}): a released migration is never changed; "
                "put the change in a new numbered file"
            )
    versioned = [f for f in files if f.version is not None and f.name not in recorded]
    applied = max((row.version or 0 for row in recorded.values()), default=0)
    late = [f.name for f in versioned if (f.version or 0) < applied]
    if late:
        raise MigrationError(f"{late[0]} is numbered below version {applied}, already applied: renumber it")
    repeatable = [f for f in files if f.version is None]
    if versioned or any(recorded.get(f.name) != Recorded(None, f.checksum) for f in repeatable):
        return versioned + repeatable
    return []


async def migrate(dsn: str, pooled: bool | None = None, sql: Traversable = SQL) -> list[str]:
    """Apply the pending migrations of `sql` in one transaction; return the names of the files applied.

    A database already up to date costs one read and takes no lock. Otherwise replicas take turns on an
    advisory lock, and the one that gets it second finds nothing left to do. A lock on a table held too
    long by someone else (an analyst's open transaction) fails the run after MIGRATION_LOCK_TIMEOUT, to
    be retried, instead of queueing every writer behind it. A failed run rolls back whole.
    """
    dsn, cache = pooler_options(dsn, pooled)
    files = sql_files(sql)
    conn = await asyncpg.connect(dsn, timeout=10, statement_cache_size=cache)
    try:
        try:
            todo = pending(files, await _recorded(conn))
        except asyncpg.UndefinedTableError:
            todo = files  # a new database, or one installed before migrations were recorded
        if not todo:
            return []
        async with conn.transaction():
            await conn.execute("select pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute(f"set local lock_timeout = '{MIGRATION_LOCK_TIMEOUT}'")
            await conn.execute((sql / "framework" / "migrations_table.sql").read_text())
            todo = pending(files, await _recorded(conn))  # what another replica applied meanwhile is done
            for file in todo:
                try:
                    await conn.execute(file.text)
                except asyncpg.PostgresError:
                    log.error("migration failed, rolled back file=%s", file.name)
                    raise
                await conn.execute(_RECORD, file.name, file.version, file.checksum)
    finally:
        await conn.close()
    if todo:
        log.info("migrated version=%d applied=%s", schema_version(files), ",".join(f.name for f in todo))
    return [f.name for f in todo]


async def _recorded(conn: asyncpg.Connection) -> dict[str, Recorded]:
    return {row["name"]: Recorded(row["version"], row["checksum"]) for row in await conn.fetch(_RECORDED)}


# The Supabase CLI layout (docs/operations.md, Supabase): `supabase db push` applies each file of
# supabase/migrations once, by the version its name starts with, in version order, and never again. So:
# - a versioned migration is one file, its version above every version already in the folder. Those released
#   before 0014 keep the names 934dae0's layout gave them (20250101 + the number on six digits), which projects
#   have pushed;
# - the repeatable SQL (sql/functions, sql/analytics) goes whole into one generated file, written again under a
#   new version whenever its content changes (a new migration changes it too: the file records every migration),
#   the earlier ones becoming no-op stubs, so a new project applies only the latest, after every migration;
# - the file ends by recording every SQL file in bluetick_migrations, as `migrate` would, so `bluetick migrate`
#   afterwards finds nothing to do;
# - files already in the folder are the project's history: kept, never renumbered. The layout before this one
#   pushed each analytics file under 20250101 + its number: those versions are kept as stubs.
LEGACY_VERSION_BASE = 20250101000000
LAST_LEGACY_MIGRATION = 13
LEGACY_REPEATABLE = (
    "0100_helpers", "0101_timeline", "0102_funnel", "0103_failures", "0104_response_times",
    "0105_engagement", "0106_pricing", "0107_report", "0108_report_rollups", "0110_indexes",
)  # fmt: skip
BUNDLE_SUFFIX = "_bluetick_repeatable.sql"
STUB = (
    "-- Superseded: bluetick's repeatable SQL (sql/functions, sql/analytics) is applied whole by the latest\n"
    f"-- *{BUNDLE_SUFFIX} of this folder. Kept so the version stays in step with the projects that pushed it.\n"
    "select 1;\n"
)


def write_supabase_layout(target: Path, now: datetime | None = None, sql: Traversable = SQL) -> list[Path]:
    """Bring the Supabase CLI folder `target` up to this package's SQL; return the files written or rewritten.

    Incremental: files already there are kept (the remote project has applied them), new ones get versions above
    every version there and at least `now`'s (YYYYMMDDHHMMSS, as `supabase migration new` numbers them).
    """
    target.mkdir(parents=True, exist_ok=True)
    present = {path.name.partition("_")[2]: path for path in target.glob("*.sql")}
    versions = [int(path.name.partition("_")[0]) for path in target.glob("*.sql") if path.name[0].isdigit()]
    stamp = int((now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S"))
    written: list[Path] = []

    def next_version() -> int:
        version = max([stamp, *(v + 1 for v in versions)])
        versions.append(version)
        return version

    def write(path: Path, text: str) -> None:
        path.unlink(missing_ok=True)  # a link of the earlier layout is replaced, not written through
        path.write_text(text)
        written.append(path)

    files = sql_files(sql)
    for name in LEGACY_REPEATABLE:
        path = target / f"{LEGACY_VERSION_BASE + int(name[:4])}_{name.partition('_')[2]}.sql"
        if path.is_symlink() or not path.exists() or path.read_text() != STUB:
            write(path, STUB)
    for file in files:
        if file.version is None:
            continue
        source = file.name.partition("/")[2]
        legacy = file.version <= LAST_LEGACY_MIGRATION
        if (source.partition("_")[2] if legacy else source) in present:
            continue
        version = LEGACY_VERSION_BASE + file.version if legacy else next_version()
        write(target / f"{version}_{source.partition('_')[2] if legacy else source}", file.text)

    bundle = _repeatable_bundle(files, sql)
    bundles = sorted(target.glob(f"*{BUNDLE_SUFFIX}"), key=lambda path: int(path.name.partition("_")[0]))
    if not bundles or bundles[-1].read_text() != bundle:
        for old in bundles:
            if old.read_text() != STUB:
                write(old, STUB)
        write(target / f"{next_version()}{BUNDLE_SUFFIX}", bundle)
    return written


def _repeatable_bundle(files: list[SqlFile], sql: Traversable) -> str:
    """Every repeatable file, then the record of every file, as `migrate` applies and records them."""
    parts = [
        "-- Generated by `bluetick supabase-layout` from bluetick's sql/: do not edit. Every repeatable file, then\n"
        "-- the record of every SQL file in bluetick_migrations, so `bluetick migrate` finds nothing left to do.\n",
        (sql / "framework" / "migrations_table.sql").read_text().replace("\r\n", "\n"),
    ]
    parts += [f"-- {file.name}\n{file.text}" for file in files if file.version is None]
    values = ",\n".join(
        f"  ('{file.name}', {'null' if file.version is None else file.version}, '{file.checksum}')" for file in files
    )
    parts.append(
        f"insert into bluetick_migrations (name, version, checksum) values\n{values}\n"
        "on conflict (name) do update\n"
        "  set version = excluded.version, checksum = excluded.checksum, applied_at = now();\n"
    )
    return "\n".join(parts)


def migration_files(sql: Traversable = SQL) -> list[Traversable]:
    """Every SQL file in the order it is applied: the versioned migrations, then the repeatable ones."""
    return versioned_files(sql) + repeatable_files(sql)


def versioned_files(sql: Traversable = SQL) -> list[Traversable]:
    """`migrations/NNNN_name.sql`: the schema's history, append-only, each file applied once in number order."""
    return _sql_files(sql / "migrations")


def repeatable_files(sql: Traversable = SQL) -> list[Traversable]:
    """`functions/*.sql` then `analytics/*.sql`: every function's one current definition, and the analysts' views
    and functions, applied again whenever any of them or the schema change."""
    return [f for folder in REPEATABLE for f in _sql_files(sql / folder)]


def _sql_files(folder: Traversable) -> list[Traversable]:
    if not folder.is_dir():
        return []
    return sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
