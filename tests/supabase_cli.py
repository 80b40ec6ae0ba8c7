"""The real Supabase CLI pushing bluetick's layout into Debian's Postgres 15 (tests/integration/test_supabase_cli.py).

- The CLI: the npm package `supabase`, pinned, which .ci/run installs under .ci/node (or a `supabase` on PATH).
  `supabase db push --db-url URL` needs no `supabase init` or config.toml: only `supabase/migrations/` in the
  project folder. It runs with HOME in a temporary folder and telemetry and the update check turned off, so every
  connection it opens goes to the database on 127.0.0.1.
- Postgres: Debian's postgresql-15 server (also installed by .ci/run), started by `postgres15()` in a temporary
  folder, on a free port of 127.0.0.1 only, with a password login as the CLI needs. Postgres will not run as root:
  as root, initdb and pg_ctl run as the `postgres` user.
- `missing()` names what is absent, for the test's skip message.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI_VERSION = "2.117.0"  # the version .ci/run installs
LOCAL_CLI = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "supabase"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_PROGRAMS = ("initdb", "pg_ctl", "postgres", "pg_dump")
# No telemetry, no check for a newer release: with these the CLI opens no connection but the database's.
CLI_ENV = {"DO_NOT_TRACK": "1", "SUPABASE_TELEMETRY_DISABLED": "1", "SUPABASE_NO_UPDATE_NOTIFIER": "1"}
FIXTURES = ROOT / "tests" / "fixtures"
SQL_934DAE0 = FIXTURES / "sql_934dae0"


def cli_binary() -> str | None:
    """The Supabase CLI that .ci/run installed, else one on PATH, else None."""
    if LOCAL_CLI.exists():
        return str(LOCAL_CLI)
    return shutil.which("supabase")


def missing() -> str | None:
    """Why the real-CLI test cannot run here (the skip message), or None when it can."""
    if cli_binary() is None:
        return (
            f"the Supabase CLI is not installed: .ci/run installs it with npm (supabase@{CLI_VERSION} under "
            ".ci/node); no `supabase` on PATH either"
        )
    absent = [name for name in PG_PROGRAMS if not (PG_BIN / name).is_file()]
    if absent:
        return (
            f"Debian's Postgres 15 server is not installed (no {', '.join(absent)} in {PG_BIN}): "
            "apt-get install postgresql-15"
        )
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without runuser, to start Postgres 15 as the postgres user"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to start Postgres 15 as (Postgres refuses root)"
    return None


@dataclass(frozen=True)
class Server:
    """A running Postgres 15 on 127.0.0.1:`port`, superuser `postgres` with a password."""

    port: int
    password: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{database}?sslmode=disable"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def postgres15() -> Iterator[Server]:
    """Debian's Postgres 15 in a new temporary cluster, stopped and removed on exit."""
    # Not under pytest's tmp_path: as root that is private to root, and the server runs as postgres.
    workdir = Path(tempfile.mkdtemp(prefix="bluetick-pg15-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        as_owner = ["runuser", "-u", "postgres", "--"]
        shutil.chown(workdir, "postgres")
    data, log = workdir / "data", workdir / "postgres.log"
    password = secrets.token_hex(16)
    password_file = workdir / "password"
    password_file.write_text(password + "\n")
    if as_owner:
        shutil.chown(password_file, "postgres")

    def run(*command: str) -> None:
        proc = subprocess.run(
            [*as_owner, *command], cwd=workdir, capture_output=True, text=True, timeout=60, check=False
        )
        if proc.returncode != 0:
            server_log = log.read_text() if log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed:\n{proc.stdout}{proc.stderr}{server_log}")

    port = _free_port()
    started = False
    try:
        run(
            str(PG_BIN / "initdb"), "--pgdata", str(data), "--username", "postgres", "--pwfile", str(password_file),
            "--auth", "scram-sha-256", "--encoding", "UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {workdir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        run(str(PG_BIN / "pg_ctl"), "--pgdata", str(data), "--log", str(log), "-o", options, "-w", "-t", "60", "start")
        started = True
        yield Server(port, password)
    finally:
        if started:
            run(str(PG_BIN / "pg_ctl"), "--pgdata", str(data), "-m", "fast", "-w", "-t", "60", "stop")
        shutil.rmtree(workdir, ignore_errors=True)


def layout_934dae0(folder: Path) -> list[Path]:
    """934dae0's Supabase layout in `folder`: every SQL file of that release's migrations/ and analytics/,
    `NNNN_rest.sql` as `20250101` + NNNN on six digits + `_rest.sql` (copies, where that release linked)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for sub in ("migrations", "analytics"):
        for source in sorted((SQL_934DAE0 / sub).glob("*.sql")):
            number, _, rest = source.name.partition("_")
            target = folder / f"20250101{int(number):06d}_{rest}"
            shutil.copyfile(source, target)
            written.append(target)
    return written


def push(project: Path, url: str) -> str:
    """`supabase db push --db-url url` of `project`/supabase/migrations; returns what the CLI printed, and raises
    with it when the CLI fails."""
    cli = cli_binary()
    assert cli is not None, missing()
    home = project / ".home"
    home.mkdir(exist_ok=True)
    # The caller's Supabase settings (an access token, a profile, a workdir) are no business of this push.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPABASE_")}
    env.update(CLI_ENV, HOME=str(home))
    proc = subprocess.run(
        [cli, "db", "push", "--db-url", url, "--workdir", str(project), "--yes", "--agent", "no"],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    printed = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise AssertionError(f"supabase db push exited with {proc.returncode}:\n{printed}")
    return printed


# pg_dump's own comment lines (a header, `-- Name: ...; Type: ...` before each object, `--` around them).
_DUMP_COMMENTS = ("-- Name: ", "-- PostgreSQL database dump", "-- Dumped from ", "-- Dumped by ")


def schema_dump(url: str) -> str:
    """`pg_dump --schema-only` of Postgres 15, without the CLI's own supabase_migrations schema, normalised: no
    blank lines, no `SET` lines, no pg_dump comment lines, no \\restrict lines (their key is random per run)."""
    proc = subprocess.run(
        [str(PG_BIN / "pg_dump"), "--schema-only", "--exclude-schema", "supabase_migrations", "--dbname", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"pg_dump failed:\n{proc.stderr}")
    kept = []
    for line in proc.stdout.splitlines():
        if not line.strip() or line == "--" or line.startswith(_DUMP_COMMENTS):
            continue
        if line.startswith(("SET ", "SELECT pg_catalog.set_config(", "\\restrict", "\\unrestrict")):
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"
