"""`python -m bench`'s main: start a Postgres, run the chosen sections, print the table and write the results."""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import host, load
from bench.harness import Bench, log, stamp
from bench.options import SECTIONS, Options, parse
from bench.report import render
from bench.sections import RUNNERS
from bluetick.store import embedded
from bluetick.store.migrations import migrate
from bluetick.store.postgres import PostgresStore


async def bench(opts: Options, work: Path) -> dict[str, Any]:
    wrk = load.wrk_version() if opts.loadgen != "python" else None
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench", *sys.argv[1:]]), "revision": host.revision(),
        "machine": host.machine(),
        "load_generator": {"tool": wrk or "python (bench/loadgen.py, aiohttp)", "connections": opts.connections,
                           "threads": opts.connections if wrk else 1, "nice": load.NICE},
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(opts).items()},
    }  # fmt: skip
    log(f"starting Postgres under {work}")
    dsn = await asyncio.to_thread(embedded.start, work / "db")
    await migrate(dsn)
    results["postgres"] = await host.postgres_info(dsn)
    store = await PostgresStore.connect(dsn, pool_size=4, timeout_s=60)
    b = Bench(opts=opts, dsn=dsn, pgdata=work / "db" / "pg", work=work, wrk=wrk, store=store)
    try:
        for section in SECTIONS:
            if section in opts.sections:
                try:
                    results[section] = await RUNNERS[section](b)
                except Exception as exc:  # noqa: BLE001 - the sections measured so far are still written out
                    log(f"{section}: crashed: {type(exc).__name__}: {exc}")
                    results.setdefault("crashed", {})[section] = f"{type(exc).__name__}: {exc}"[:500]
                    b.failures.append(f"section {section} crashed ({type(exc).__name__}), see the JSON's 'crashed'")
    finally:
        await store.close()
    results["failures"] = b.failures
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    return results


def main(argv: Sequence[str]) -> int:
    opts = parse(argv)
    work = Path(tempfile.mkdtemp(prefix="bluetick-bench-"))
    os.chmod(work, 0o755)  # the embedded server may run as another user (as root it does)
    # registered before the embedded server's own exit hook, so it runs after the server has stopped
    atexit.register(shutil.rmtree, work, True)
    try:
        results = asyncio.run(bench(opts, work))
    except KeyboardInterrupt:
        return 130
    opts.out.mkdir(parents=True, exist_ok=True)
    name = f"bench-{'quick-' if opts.quick else ''}{stamp()}"
    table = render(results)
    (opts.out / f"{name}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (opts.out / f"{name}.md").write_text(table)
    print(table)
    print(f"results: {opts.out / name}.json and .md", file=sys.stderr)
    if results["failures"]:
        print("CORRECTNESS FAILED:\n  " + "\n  ".join(results["failures"]), file=sys.stderr)
        return 1
    return 0
