"""bluetick's command line: serve, migrate, sql, stats, report, inbox, forget, export, url-token, supabase-layout."""

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
from typing import TYPE_CHECKING, Any
from uuid import UUID

from bluetick import logs
from bluetick.config import ConfigError, Settings, load_settings, parse_duration
from bluetick.customers import Customer, forget, parse_customer
from bluetick.payloads.common import ItemError
from bluetick.stats import days_arg, funnel_report
from bluetick.store.dsn import dsn_of

if TYPE_CHECKING:
    from bluetick.inbox import ReplayReport


def migrate(settings: Settings) -> int:
    """Apply the pending migrations and print each file applied; a failure leaves the database unchanged."""
    import asyncpg

    from bluetick.store.migrations import MigrationError, schema_version
    from bluetick.store.migrations import migrate as run_migrations

    try:
        applied = asyncio.run(run_migrations(dsn_of(settings)))
    except MigrationError as exc:
        print(f"bluetick: migrate: {exc}", file=sys.stderr)
        return 1
    except asyncpg.PostgresError as exc:
        print(f"bluetick: migrate: failed and rolled back, nothing applied: {exc}", file=sys.stderr)
        return 1
    for name in applied:
        print(f"applied {name}")
    print(f"migrated to version {schema_version()}" if applied else f"up to date at version {schema_version()}")
    return 0


def sql(settings: Settings, psql_args: list[str]) -> int:
    """psql on the configured database (the embedded server's own psql when DATABASE_URL is unset)."""
    from bluetick.store import embedded

    dsn = dsn_of(settings)
    psql = str(embedded.psql_path()) if os.access(embedded.psql_path(), os.X_OK) else "psql"
    return subprocess.call([psql, dsn, *psql_args])


def read_analytics(command: str, prog: str, work: Callable[[], Coroutine[Any, Any, str]]) -> str | None:
    """What `work()` (a read of sql/analytics) returns, or None once the reason it failed is printed."""
    import asyncpg

    try:
        return asyncio.run(work())
    except (asyncpg.UndefinedTableError, asyncpg.UndefinedFunctionError):
        print(f"bluetick: {command}: sql/analytics is not installed here; run `{prog} migrate`", file=sys.stderr)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"bluetick: {command}: {exc}", file=sys.stderr)
    return None


def stats(settings: Settings, org: UUID, days: int, by: str, prog: str) -> int:
    """Print the funnel of one organisation (sql/analytics views) as a table."""
    table = read_analytics("stats", prog, lambda: funnel_report(dsn_of(settings), org, days=days, by=by))
    if table is None:
        return 1
    print(table)
    return 0


def since_arg(raw: str) -> timedelta:
    try:
        return parse_duration("--since", raw)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def inbox(settings: Settings, action: str, org: UUID | None, since: timedelta | None) -> int:
    """List the webhook inbox by format and reason, or replay it with today's parsers."""
    from bluetick.inbox import replay
    from bluetick.service import open_store

    start = datetime.now(UTC) - since if since is not None else None

    async def run() -> str:
        store = await open_store(settings)
        try:
            await store.prepare()
            if action == "replay":
                return replay_report(await replay(store, org, start))
            return inbox_table(await store.inbox_summary(org, start))
        finally:
            await store.close()

    try:
        print(asyncio.run(run()))
    except Exception as exc:  # noqa: BLE001 - any failure of the database is reported, not raised
        print(f"bluetick: inbox: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def customer_arg(raw: str) -> Customer:
    try:
        return parse_customer(raw)
    except ItemError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def customer_data(settings: Settings, action: str, org: UUID, customer: Customer) -> int:
    """Erase one customer of `org` (`forget`) or print everything stored about them (`export`), as JSON."""
    from bluetick.service import open_store

    async def run() -> dict[str, Any]:
        store = await open_store(settings)
        try:
            await store.prepare()
            if action == "forget":
                return (await forget(store, org, customer, settings.batch_max)).to_json()
            return await store.export_customer(org, customer)
        finally:
            await store.close()

    try:
        doc = asyncio.run(run())
    except Exception as exc:  # noqa: BLE001 - any failure of the database is reported, not raised
        print(f"bluetick: {action}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(doc, indent=2, ensure_ascii=False))
    return 0


def inbox_table(groups: list[dict[str, Any]]) -> str:
    if not groups:
        return "the inbox is empty"
    head = ("format", "reason", "kept", "replayed", "oldest", "newest")
    rows = [head] + [tuple(str(g[c])[:19].replace("T", " ") for c in head) for g in groups]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def replay_report(report: ReplayReport) -> str:
    lines = [
        f"bodies read again: {report.bodies}",
        f"replayed (now complete): {report.replayed}"
        + "".join(f", {fmt} {n}" for fmt, n in sorted(report.formats.items())),
        f"still kept: {report.still_kept}",
        f"events applied: messages {report.messages}, statuses {report.statuses}",
    ]
    if report.forms:
        lines.append(f"form bodies among them: {report.forms}")
    if report.not_json:
        lines.append(f"not JSON: {report.not_json} not replayed")
    return "\n".join(lines)


def report(settings: Settings, org: str, days: str | None, tz: str | None, out: Path, prog: str) -> int:
    """Write one organisation's report page to `out`: all of it, or nothing when anything fails."""
    from bluetick.report import BadInput, report_page, window_of

    try:
        window = window_of(org, days, tz)
    except BadInput as exc:
        print(f"bluetick: report: {exc}", file=sys.stderr)
        return 2
    page = read_analytics("report", prog, lambda: report_page(dsn_of(settings), window, settings.database_pooled))
    if page is None:
        return 1
    partial = out.with_name(f".{out.name}.partial")
    try:
        partial.write_text(page, encoding="utf-8")
        partial.replace(out)  # the page appears whole or not at all
    except OSError as exc:
        partial.unlink(missing_ok=True)
        print(f"bluetick: report: cannot write {out}: {exc}", file=sys.stderr)
        return 1
    print(out)
    return 0


def parser(prog: str, tools: Mapping[str, str]) -> argparse.ArgumentParser:
    """The commands, and `tools` (name: help) that the caller runs itself, listed in --help only."""
    parser = argparse.ArgumentParser(prog=prog, description="WhatsApp delivery receipts merged into Postgres.")
    commands = parser.add_subparsers(dest="command")
    serve_parser = commands.add_parser("serve", help="run the HTTP service (the default)")
    serve_parser.add_argument("--workers", type=int, default=1, help="processes sharing the port (SO_REUSEPORT)")
    commands.add_parser("migrate", help="apply the pending migrations to the configured database")
    for name, text in tools.items():
        commands.add_parser(name, help=text)
    layout_parser = commands.add_parser(
        "supabase-layout", help="link sql/ into supabase/migrations for `supabase db push`"
    )
    layout_parser.add_argument(
        "dir", nargs="?", type=Path, default=Path("supabase/migrations"), help="where the links go"
    )
    token_parser = commands.add_parser("url-token", help="an organisation's ?token= derived from WEBHOOK_URL_TOKEN")
    token_parser.add_argument("org_id", type=uuid.UUID)
    commands.add_parser("sql", help="open psql on the configured database; other arguments go to psql")
    stats_parser = commands.add_parser("stats", help="print an organisation's delivery funnel (UTC days)")
    stats_parser.add_argument("--org", type=UUID, required=True, help="the organisation's id")
    stats_parser.add_argument("--days", type=days_arg, default=7, help="UTC days up to today (default 7)")
    stats_parser.add_argument("--by", choices=("day", "kind"), default="day", help="one row per day or per msg_kind")
    inbox_parser = commands.add_parser(
        "inbox", help="list the webhook bodies kept as not understood, or `inbox replay` them with today's parsers"
    )
    inbox_parser.add_argument("action", nargs="?", choices=("list", "replay"), default="list")
    inbox_parser.add_argument("--org", type=UUID, help="one organisation's bodies only")
    inbox_parser.add_argument("--since", type=since_arg, help="bodies received within this long, like 7d or 12h")
    for name, text in (
        ("forget", "erase one customer's message text and identifiers in an organisation, and record it"),
        ("export", "print everything stored about one customer of an organisation, as JSON"),
    ):
        customer_parser = commands.add_parser(name, help=text)
        customer_parser.add_argument("--org", type=UUID, required=True, help="the organisation's id")
        customer_parser.add_argument(
            "--customer", type=customer_arg, required=True, help="a phone (any form, matched as E.164) or a BSUID"
        )
    report_parser = commands.add_parser("report", help="write an organisation's report: one HTML page of charts")
    report_parser.add_argument("--org", required=True, help="the organisation's id")
    report_parser.add_argument("--days", help="UTC days up to today, 1 to 366 (default 30)")
    report_parser.add_argument("--tz", help="time zone of the read-rate heatmap, e.g. Asia/Kolkata (default UTC)")
    report_parser.add_argument("--out", type=Path, default=Path("report.html"), help="the page (default report.html)")
    return parser


def main(argv: list[str] | None = None, prog: str = "bluetick", tools: Mapping[str, str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = parser(prog, tools or {})
    args, extra = commands.parse_known_args(argv)
    if extra and args.command != "sql":
        commands.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        settings = load_settings(serving=args.command in (None, "serve"))
    except ConfigError as exc:
        print(f"bluetick: configuration error: {exc}", file=sys.stderr)
        return 2
    logs.setup(settings.log_level)
    try:
        return run_command(args, extra, settings, prog)
    except ConfigError as exc:
        print(f"bluetick: configuration error: {exc}", file=sys.stderr)
        return 2


def run_command(args: argparse.Namespace, extra: list[str], settings: Settings, prog: str) -> int:
    if args.command == "migrate":
        return migrate(settings)
    elif args.command == "url-token":
        if not settings.webhook_url_token:
            print("bluetick: WEBHOOK_URL_TOKEN is not set", file=sys.stderr)
            return 2
        from bluetick.auth import org_url_token

        print(org_url_token(settings.webhook_url_token, args.org_id))
    elif args.command == "supabase-layout":
        from bluetick.store.migrations import write_supabase_layout

        for link in write_supabase_layout(args.dir):
            print(link)
    elif args.command == "sql":
        return sql(settings, extra)
    elif args.command == "stats":
        return stats(settings, args.org, args.days, args.by, prog)
    elif args.command == "inbox":
        return inbox(settings, args.action, args.org, args.since)
    elif args.command in ("forget", "export"):
        return customer_data(settings, args.command, args.org, args.customer)
    elif args.command == "report":
        return report(settings, args.org, args.days, args.tz, args.out, prog)
    else:
        from bluetick import server

        return server.run(settings, getattr(args, "workers", 1))
    return 0
