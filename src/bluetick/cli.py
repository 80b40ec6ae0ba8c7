"""bluetick's command line: serve, migrate, sql, stats, report, campaign-recipients, inbox, forget, export, url-token,
supabase-layout.

Each command is a function of the parsed arguments and the settings that returns the exit code, or raises Failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from bluetick import logs
from bluetick.config import ConfigError, Settings, load_settings, parse_duration
from bluetick.customers import Customer, forget, parse_customer
from bluetick.payloads.common import ItemError
from bluetick.stats import Unreadable, configured_funnel_report, days_arg
from bluetick.store import Store
from bluetick.store.dsn import dsn_of


class Failed(Exception):
    """A command that could not do its work: `bluetick: <command>: <reason>` on stderr, and its exit code."""

    def __init__(self, reason: str, code: int = 1) -> None:
        super().__init__(reason)
        self.code = code


def serve(args: argparse.Namespace, settings: Settings) -> int:
    from bluetick import server

    return server.run(settings, args.workers)


def migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Apply the pending migrations and print each file applied; a failure leaves the database unchanged."""
    import asyncpg

    from bluetick.store.migrations import MigrationError, schema_version
    from bluetick.store.migrations import migrate as run_migrations

    try:
        applied = asyncio.run(run_migrations(dsn_of(settings)))
    except MigrationError as exc:
        raise Failed(str(exc)) from exc
    except asyncpg.PostgresError as exc:
        raise Failed(f"failed and rolled back, nothing applied: {exc}") from exc
    for name in applied:
        print(f"applied {name}")
    print(f"migrated to version {schema_version()}" if applied else f"up to date at version {schema_version()}")
    return 0


def url_token(args: argparse.Namespace, settings: Settings) -> int:
    from bluetick.auth import org_url_token

    if not settings.webhook_url_token:
        raise Failed("WEBHOOK_URL_TOKEN is not set", code=2)
    print(org_url_token(settings.webhook_url_token, args.org_id))
    return 0


def supabase_layout(args: argparse.Namespace, settings: Settings) -> int:
    from bluetick.store.migrations import write_supabase_layout

    for written in write_supabase_layout(args.dir):
        print(written)
    return 0


def sql(args: argparse.Namespace, settings: Settings) -> int:
    """psql on the configured database (the embedded server's own psql when DATABASE_URL is unset)."""
    from bluetick.store import embedded

    dsn = dsn_of(settings)
    psql = str(embedded.psql_path()) if os.access(embedded.psql_path(), os.X_OK) else "psql"
    return subprocess.call([psql, dsn, *args.psql_args])


def read_analytics(prog: str, work: Callable[[], Coroutine[Any, Any, str]]) -> str:
    """What `work()` (a read of sql/analytics) returns; Failed with the reason it could not."""
    import asyncpg

    try:
        return asyncio.run(work())
    except (asyncpg.UndefinedTableError, asyncpg.UndefinedFunctionError) as exc:
        raise Failed(f"sql/analytics is not installed here; run `{prog} migrate`") from exc
    except (OSError, asyncpg.PostgresError, Unreadable) as exc:
        raise Failed(str(exc)) from exc


def stats(args: argparse.Namespace, settings: Settings) -> int:
    """Print the funnel of one organisation (sql/analytics views) as a table, on either backend."""
    print(read_analytics(args.prog, lambda: configured_funnel_report(settings, args.org, days=args.days, by=args.by)))
    return 0


def since_arg(raw: str) -> timedelta:
    try:
        return parse_duration("--since", raw)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def customer_arg(raw: str) -> Customer:
    try:
        return parse_customer(raw)
    except ItemError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def with_store(settings: Settings, work: Callable[[Store], Coroutine[Any, Any, str]]) -> str:
    """What `work(store)` returns, on the configured store; Failed with any error of the database."""
    from bluetick.service import prepared_store

    async def run() -> str:
        async with prepared_store(settings) as store:
            return await work(store)

    try:
        return asyncio.run(run())
    except Exception as exc:  # any failure of the database is reported, not raised
        raise Failed(f"{type(exc).__name__}: {exc}") from exc


def inbox(args: argparse.Namespace, settings: Settings) -> int:
    """List the webhook inbox by format and reason, or replay it with today's parsers."""
    from bluetick.inbox import replay, summary_table

    start = datetime.now(UTC) - args.since if args.since is not None else None

    async def work(store: Store) -> str:
        if args.action == "replay":
            return (await replay(store, args.org, start)).text()
        return summary_table(await store.inbox_summary(args.org, start))

    print(with_store(settings, work))
    return 0


def customer_data(args: argparse.Namespace, settings: Settings) -> int:
    """Erase one customer of `org` (`forget`) or print everything stored about them (`export`), as JSON."""

    async def work(store: Store) -> str:
        if args.command == "forget":
            doc = (await forget(store, args.org, args.customer, settings.batch_max)).to_json()
        else:
            doc = await store.export_customer(args.org, args.customer)
        return json.dumps(doc, indent=2, ensure_ascii=False)

    print(with_store(settings, work))
    return 0


def report(args: argparse.Namespace, settings: Settings) -> int:
    """Write one organisation's report page to `args.out`: all of it, or nothing when anything fails."""
    from bluetick.report import BadInput, build_page, window_of

    try:
        window = window_of(args.org, args.days, args.tz)
    except BadInput as exc:
        raise Failed(str(exc), code=2) from exc
    page = with_store(settings, lambda store: build_page(store, window))
    out: Path = args.out
    partial = out.with_name(f".{out.name}.partial")
    try:
        partial.write_text(page, encoding="utf-8")
        partial.replace(out)  # the page appears whole or not at all
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise Failed(f"cannot write {out}: {exc}") from exc
    print(out)
    return 0


def campaign_recipients(args: argparse.Namespace, settings: Settings) -> int:
    """Write one campaign's recipients as CSV (the route's lines) to `args.out`, or to stdout, page by page: a file
    appears whole or not at all."""
    from bluetick.campaigns_api import recipients_csv

    out: Path | None = args.out

    async def work(store: Store) -> str:
        chunks = recipients_csv(store, args.org, args.campaign, args.page_size)
        if out is None:
            async for chunk in chunks:
                sys.stdout.write(chunk)
            sys.stdout.flush()
            return ""
        partial = out.with_name(f".{out.name}.partial")
        try:
            with partial.open("w", encoding="utf-8", newline="") as file:
                async for chunk in chunks:
                    file.write(chunk)
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)
        return str(out)

    written = with_store(settings, work)
    if written:
        print(written)
    return 0


def campaign_arg(raw: str) -> str:
    from bluetick.campaigns_api import BadInput, campaign_of

    try:
        return campaign_of(raw)
    except BadInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def page_size_arg(raw: str) -> int:
    from bluetick.campaigns_api import BadInput, page_size_of

    try:
        return page_size_of(raw)
    except BadInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser(prog: str, tools: Mapping[str, str]) -> argparse.ArgumentParser:
    """The commands, each with the function that runs it (`run`), and `tools` (name: help) that the caller runs
    itself, listed in --help only."""
    parser = argparse.ArgumentParser(prog=prog, description="WhatsApp delivery receipts merged into Postgres.")
    parser.set_defaults(run=serve, workers=1, prog=prog)
    commands = parser.add_subparsers(dest="command")
    serve_parser = commands.add_parser("serve", help="run the HTTP service (the default)")
    serve_parser.add_argument("--workers", type=int, default=1, help="processes sharing the port (SO_REUSEPORT)")
    commands.add_parser("migrate", help="apply the pending migrations to the configured database").set_defaults(
        run=migrate
    )
    for name, text in tools.items():
        commands.add_parser(name, help=text)
    layout_parser = commands.add_parser(
        "supabase-layout", help="bring a Supabase migrations folder up to this SQL, for `supabase db push`"
    )
    layout_parser.set_defaults(run=supabase_layout)
    layout_parser.add_argument(
        "dir", nargs="?", type=Path, default=Path("supabase/migrations"), help="the folder to write"
    )
    token_parser = commands.add_parser("url-token", help="an organisation's ?token= derived from WEBHOOK_URL_TOKEN")
    token_parser.set_defaults(run=url_token)
    token_parser.add_argument("org_id", type=uuid.UUID)
    commands.add_parser("sql", help="open psql on the configured database; other arguments go to psql").set_defaults(
        run=sql
    )
    stats_parser = commands.add_parser("stats", help="print an organisation's delivery funnel (UTC days)")
    stats_parser.set_defaults(run=stats)
    stats_parser.add_argument("--org", type=UUID, required=True, help="the organisation's id")
    stats_parser.add_argument("--days", type=days_arg, default=7, help="UTC days up to today (default 7)")
    stats_parser.add_argument("--by", choices=("day", "kind"), default="day", help="one row per day or per msg_kind")
    inbox_parser = commands.add_parser(
        "inbox", help="list the webhook bodies kept as not understood, or `inbox replay` them with today's parsers"
    )
    inbox_parser.set_defaults(run=inbox)
    inbox_parser.add_argument("action", nargs="?", choices=("list", "replay"), default="list")
    inbox_parser.add_argument("--org", type=UUID, help="one organisation's bodies only")
    inbox_parser.add_argument("--since", type=since_arg, help="bodies received within this long, like 7d or 12h")
    for name, text in (
        ("forget", "erase one customer's message text and identifiers in an organisation, and record it"),
        ("export", "print everything stored about one customer of an organisation, as JSON"),
    ):
        customer_parser = commands.add_parser(name, help=text)
        customer_parser.set_defaults(run=customer_data)
        customer_parser.add_argument("--org", type=UUID, required=True, help="the organisation's id")
        customer_parser.add_argument(
            "--customer", type=customer_arg, required=True, help="a phone (any form, matched as E.164) or a BSUID"
        )
    report_parser = commands.add_parser("report", help="write an organisation's report: one HTML page of charts")
    report_parser.set_defaults(run=report)
    report_parser.add_argument("--org", required=True, help="the organisation's id")
    report_parser.add_argument("--days", help="UTC days up to today, 1 to 366 (default 30)")
    report_parser.add_argument("--tz", help="time zone of the read-rate heatmap, e.g. Asia/Kolkata (default UTC)")
    report_parser.add_argument("--out", type=Path, default=Path("report.html"), help="the page (default report.html)")
    recipients_parser = commands.add_parser(
        "campaign-recipients", help="write a campaign's recipients as CSV: one line per message, its stages' times"
    )
    recipients_parser.set_defaults(run=campaign_recipients)
    recipients_parser.add_argument("--org", type=UUID, required=True, help="the organisation's id")
    recipients_parser.add_argument("--campaign", type=campaign_arg, required=True, help="the campaign's id")
    recipients_parser.add_argument("--out", type=Path, help="the CSV file (default: stdout)")
    recipients_parser.add_argument(
        "--page-size", type=page_size_arg, default=1000, help="lines read from the database at a time (default 1000)"
    )
    return parser


def main(argv: list[str] | None = None, prog: str = "bluetick", tools: Mapping[str, str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = parser(prog, tools or {})
    args, extra = commands.parse_known_args(argv)
    if extra and args.command != "sql":
        commands.error(f"unrecognized arguments: {' '.join(extra)}")
    args.psql_args = extra
    try:
        settings = load_settings(serving=args.command in (None, "serve"))
        logs.setup(settings.log_level)
        run: Callable[[argparse.Namespace, Settings], int] = args.run
        return run(args, settings)
    except ConfigError as exc:
        print(f"bluetick: configuration error: {exc}", file=sys.stderr)
        return 2
    except Failed as exc:
        print(f"bluetick: {args.command}: {exc}", file=sys.stderr)
        return exc.code
