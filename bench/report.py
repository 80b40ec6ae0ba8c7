"""The results as a markdown table, one part per section (bench/README.md says what each number means)."""

from __future__ import annotations

import math
from typing import Any

from bench import waits
from bench.harness import BARE


def render(results: dict[str, Any]) -> str:
    out = _header(results)
    if "ingest" in results:
        out += _ingest(results) + _waits(results) + _open_loop(results)
    if _all_checked(results):
        out += _correctness(results)
    if "apply" in results:
        out += _apply(results)
    if "analytics" in results:
        out += _analytics(results)
    if "report" in results:
        out += _report(results)
    if "memory" in results:
        out += _memory(results)
    if "profile" in results and "skipped" not in results["profile"]:
        out += _profile(results)
    if "scale" in results:
        out += _scale(results)
    if "seed" in results:
        out += _seed(results)
    if "soak" in results:
        out += _soak(results)
    if "retention" in results:
        out += _retention(results)
    if "events" in results:
        out += _events(results)
    if "campaigns" in results:
        out += _campaigns(results)
    if "baseline" in results and "ratio" in results["baseline"]:
        out += _baseline(results)
    if results.get("failures"):
        out.append("\n**CORRECTNESS FAILURES:** " + "; ".join(results["failures"]))
    return "\n".join(out) + "\n"


def _f(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _header(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    lg = results["load_generator"]
    rev = results["revision"]
    dirty = f" plus uncommitted changes to {', '.join(rev['uncommitted'])}" if rev["uncommitted"] else ""
    return [
        f"# bluetick bench, {results['started']}, commit {rev['commit']}{dirty}\n",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Linux {m['kernel']}, Python "
        f"{m['python']}; {results['postgres']['version'].split(' on ')[0]} (embedded); busy cores before the "
        f"bench: {m['busy_cores_before']} (other processes). Load generator: {lg['tool']}, "
        f"{lg['connections']} connections, nice {lg['nice']}. Command: `{results['command']}`.\n",
    ]


def _ingest(results: dict[str, Any]) -> list[str]:
    lg = results["load_generator"]
    out = [
        f"## Ingest ({lg['connections']} connections, {results['options']['seconds']} s per run, "
        f"median of {results['options']['repeat']})\n",
        "| server | webhooks/s (2xx) | events/s | vs bare | ack p50 ms | ack p99 ms | ack max ms | non-2xx |"
        " CPU cores: server / postgres / loadgen / other | events per batch, flush ms |"
        " rows as merge rules say |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for name, s in results["ingest"]["summary"].items():
        cpu = s["cpu_cores"]
        checked = "-" if name == BARE.name else ("yes" if s["checks_ok"] else "**NO**")
        out.append(
            f"| {name} | {_f(s['rate'], 0)} | {_f(s['events_per_s'], 0)} | {_f(s['vs_bare'], 2)} | "
            f"{_f(s['p50_ms'], 2)} | {_f(s['p99_ms'], 2)} | {_f(s['max_ms'], 1)} | {_non_2xx(s)} | "
            f"{_f(cpu.get('server'), 2)} / {_f(cpu.get('postgres'), 2)} / {_f(cpu.get('loadgen'), 2)} / "
            f"{_f(cpu.get('other'), 2)} | {_f(s['batch_size_mean'], 0)}, {_f(s['flush_ms_mean'], 1)} | "
            f"{checked} |"
        )
    return out


def _waits(results: dict[str, Any]) -> list[str]:
    """What Postgres' busy backends waited on during each closed-loop run, all repeats together."""
    rows = []
    for name, records in results["ingest"]["runs"].items():
        counts: dict[str, int] = {}
        for record in records:
            for what, n in record.get("pg_waits", {}).items():
                counts[what] = counts.get(what, 0) + n
        if counts:
            top = ", ".join(f"{what} {share:.0%}" for what, share in waits.shares(counts))
            rows.append(f"| {name} | {_f(waits.busy_backends(counts), 2)} | {top} |")
    if not rows:
        return []
    return [
        "\n## Postgres during the ingest runs (pg_stat_activity every 5 ms: busy backends and what they wait on)\n",
        "| server | busy backends (mean) | share of busy-backend samples: CPU = running, else type:event |",
        "|---|---:|---|",
        *rows,
    ]


def _open_loop(results: dict[str, Any]) -> list[str]:
    open_loop = results["ingest"]["open_loop"]
    if not open_loop:
        return []
    out = [
        f"\n## Ack latency at half the measured max rate (open loop: fixed schedule, latency "
        f"from each request's due time; {results['load_generator']['tool']}; median of "
        f"{results['options']['repeat']})\n",
        "| server | rate/s | achieved/s | p50 ms | p99 ms | max ms | bare handler p99 ms at the same "
        "rate (generator floor) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, o in open_loop.items():
        out.append(
            f"| {name} | {o['rate']} | {_f(o['achieved'], 0)} | {_f(o['p50'], 2)} | {_f(o['p99'], 2)} "
            f"| {_f(o['max'], 1)} | {_f(o['floor_p99'], 2)} |"
        )
    return out


def _correctness(results: dict[str, Any]) -> list[str]:
    out = [
        "\n## Correctness under load (every run)\n",
        "| run | messages | posts sent | events sent | resent after run | logged after run | rows wrong |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for rec in _all_checked(results):
        c = rec["check"]
        out.append(
            f"| {rec['label']} | {c['messages']:,} | {c['posts_issued']:,} | {c['events_issued']:,} | "
            f"{c['resent_after_run']} | {c['logged_after_run']} | {c['rows_wrong']} |"
        )
    return out


def _apply(results: dict[str, Any]) -> list[str]:
    a = results["apply"]
    out = [
        f"\n## Apply ({a['events']:,} events, same database, one connection, median of "
        f"{results['options']['repeat']})\n",
        "| algorithm | events/s | vs seed |",
        "|---|---:|---:|",
    ]
    for variant, rate in a["events_per_s"].items():
        note = (
            " (batch size seen under durable load)" if variant == f"bluetick batch {a['observed_batch_size']}" else ""
        )
        label = "seed: select, merge in Python, update (2 round trips/event)" if variant == "seed" else variant
        out.append(f"| {label}{note} | {_f(rate, 0)} | {_f(a['vs_seed'][variant], 1)} |")
    return out


def _analytics(results: dict[str, Any]) -> list[str]:
    an = results["analytics"]
    q = an["queries"]
    out = [
        f"\n## Analytics ({an['rows']:,} rows, {an['orgs']} orgs, {an['days']} days; funnel via "
        f"{q['funnel_source']})\n",
        "| query | bluetick indexes ms (median) | seed indexes ms (median) | speed-up | plan, bluetick | plan, seed |",
        "|---|---:|---:|---:|---|---|",
    ]
    for name, v in q.items():
        if not isinstance(v, dict):
            continue
        bt, sd = v["bluetick"], v["seed"]
        out.append(
            f"| {name} | {_f(bt['median_ms'], 2)} | {_f(sd['median_ms'], 2)} | "
            f"{_f(sd['median_ms'] / bt['median_ms'], 1)} | {'; '.join(bt['plan'])} | "
            f"{'; '.join(sd['plan'])} |"
        )
    return out


def _report(results: dict[str, Any]) -> list[str]:
    r = results["report"]
    if "tables" not in r:  # runs before the rollups: the page read the messages themselves
        return [
            f"\n## Report page ({r['rows']:,} rows, {r['orgs']} orgs: one organisation of {r['org_rows']:,} rows per "
            f"run, {r['days']} days, heatmap in {r['tz']}; median of {r['runs']})\n",
            "| build (queries + HTML) ms | max ms | queries ms | HTML ms | page KB | target |",
            "|---:|---:|---:|---:|---:|---|",
            f"| {_f(r['median_ms'])} | {_f(r['max_ms'])} | {_f(r['fetch_median_ms'])} | {_f(r['render_median_ms'])} "
            f"| {_f(r['page_bytes'] / 1024)} | < 1000 ms: {'met' if r['median_ms'] < 1000 else '**missed**'} |",
        ]
    out = [
        f"\n## Report page ({r['rows']:,} rows per table, {r['days']} days, heatmap in {r['tz']})\n",
        "Rollups built from nothing once; then the page (queries + HTML) with its rollups up to date, and right "
        "after a `read` was merged into 1,000 of its messages (the page's own refresh recomputes the hours they lie "
        "in).\n",
        "| table | rows of the organisation | rollups from nothing s (hours) | page ms, median | max | queries ms "
        "| HTML ms | page after the change ms, median | max | hours changed | page KB | target < 1000 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, t in r["tables"].items():
        worst = max(t["median_ms"], t["changed_median_ms"])
        out.append(
            f"| {name} | {t['org_rows']:,} | {_f(t['build_s'])} ({t['build_hours']}) | {_f(t['median_ms'])} "
            f"| {_f(t['max_ms'])} | {_f(t['fetch_median_ms'])} | {_f(t['render_median_ms'])} "
            f"| {_f(t['changed_median_ms'])} | {_f(t['changed_max_ms'])} | {_f(t.get('changed_hours'), 0)} "
            f"| {_f(t['page_bytes'] / 1024)} "
            f"| {'met' if worst < 1000 else '**missed**'} |"
        )
    return out


def _memory(results: dict[str, Any]) -> list[str]:
    out = [
        f"\n## Memory (RSS of the server, {results['options']['memory_seconds']} s sustained load)\n",
        "| mode | webhooks/s | idle MB | first loaded sample MB | end MB | max MB | end vs first | "
        "within 10% | events queued: first, end, max |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, mem in results["memory"].items():
        out.append(
            f"| {name} | {_f(mem['rate'], 0)} | {_f(mem['rss_idle_mb'])} | {_f(mem['rss_first_loaded_mb'])}"
            f" | {_f(mem['rss_end_mb'])} | {_f(mem['rss_max_mb'])} | {_f(mem['growth_pct'])}% | "
            f"{'yes' if mem['within_10pct'] else '**no**'} | {mem['queue_first']}, {mem['queue_end']}, "
            f"{mem['queue_max']} |"
        )
    return out


def _profile(results: dict[str, Any]) -> list[str]:
    out = ["\n## Profile (py-spy, share of the server's busy samples)\n"]
    for name, p in results["profile"].items():
        out.append(
            f"**{name}** ({_f(p['rate'], 0)} webhooks/s, server {p['cpu_cores'].get('server')} cores): "
            + ", ".join(f"{a} {pct}%" for a, pct in p.get("areas", [])[:8])
        )
        out.append("")
        out.append("| top frames, own time | % | top frames, inclusive | % |")
        out.append("|---|---:|---|---:|")
        for (o, op), (i, ip) in zip(p.get("own", [])[:10], p.get("inclusive", [])[:10], strict=False):
            out.append(f"| `{o}` | {op} | `{i}` | {ip} |")
        out.append("")
    return out


def _scale(results: dict[str, Any]) -> list[str]:
    o = results["options"]
    out = [
        f"\n## Scale (1, 2, 4 bluetick processes, each on its own port with its own pool, one Postgres; "
        f"{results['load_generator']['connections']} connections split evenly, one load generator per process; "
        f"{o['seconds']} s per run, median of {o['repeat']})\n",
        "| server | webhooks/s (2xx) | events/s | vs 1 replica | ack p99 ms (worst replica) | non-2xx |"
        " CPU cores: server (all replicas) / postgres / loadgen / other | events per batch, flush ms |"
        " rows as merge rules say |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for name, s in results["scale"]["summary"].items():
        out.append(
            f"| {name} | {_f(s['rate'], 0)} | {_f(s['events_per_s'], 0)} | {_f(s['vs_one'], 2)} | "
            f"{_f(s['p99_ms'], 2)} | {_non_2xx(s)} | {_cpu(s['cpu_cores'], 'other')} | "
            f"{_f(s['batch_size_mean'], 0)}, {_f(s['flush_ms_mean'], 1)} | {'yes' if s['checks_ok'] else '**NO**'} |"
        )
    return out


def _seed(results: dict[str, Any]) -> list[str]:
    rows = {"bluetick durable (200 after the commit)": results["seed"]["bluetick"], "seed peer (200 at once, "
            "a task per event: select, merge in Python, update)": results["seed"]["seed"]}  # fmt: skip
    out = [
        f"\n## The seed design as a running peer, beside bluetick durable (same closed-loop load, "
        f"{results['load_generator']['connections']} connections, {results['options']['seconds']} s each, "
        "same section run)\n",
        "| server | webhooks/s (2xx) | events acked/s | events applied/s during load | events applied/s, load + "
        "drain | pending at load end | drain after load s | apply latency p50 / p99 / max ms | peak RSS MB |"
        " CPU cores: server / postgres / loadgen | rows wrong |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---|---:|",
    ]
    for name, r in rows.items():
        ms = r["apply_ms"]
        out.append(
            f"| {name} | {_f(r['rate'], 0)} | {_f(r['events_acked_per_s'], 0)} | {_f(r['applied_per_s_load'], 0)} | "
            f"{_f(r['applied_per_s_total'], 0)} | {r['pending_at_end']:,} | {_f(r['drain_s'], 1)} | "
            f"{_f(ms['p50'], 1)} / {_f(ms['p99'], 1)} / {_f(ms['max'], 1)} | {_f(r['peak_rss_mb'])} | "
            f"{_cpu(r['cpu_cores'])} | {r['rows_wrong']:,} |"
        )
    bt, sd = rows.values()
    messages = results["seed"]["runs"]["seed peer"]["check"]["messages"]
    out.append(
        f"\nseed peer over bluetick durable: webhooks/s {_f(sd['rate'] / bt['rate'], 2)}, events applied/s over load "
        f"and drain {_f(sd['applied_per_s_total'] / bt['applied_per_s_total'], 2)}; the peer's rows wrong: "
        f"{sd['rows_wrong']:,} of {messages:,} messages (updates lost between concurrent read-merge-writes of a row; "
        f"a finding, not a bench failure); events it failed to apply or found no row for: {sd['errors']:,}."
    )
    return out


def _soak(results: dict[str, Any]) -> list[str]:
    out = [
        f"\n## Soak ({results['options']['soak_seconds']} s of sustained closed-loop load per mode; after the "
        "warm-up, medians of up to 10 consecutive windows of 3 samples or more)\n",
        "| mode | webhooks/s | warm-up s | samples after it | idle MB | RSS MB: first, end, max | RSS end vs first |"
        " RSS within 10% | events queued: first, end, max | queue within 10% |",
        "|---|---:|---:|---:|---:|---|---:|---|---|---|",
    ]
    for name, k in results["soak"].items():
        rss, queue = k["rss"], k["queue"]
        out.append(
            f"| {name} | {_f(k['rate'], 0)} | {_f(k['warmup_s'])} | {k['samples']} | {_f(k['rss_idle_mb'])} | "
            f"{_f(rss['first'])}, {_f(rss['end'])}, {_f(rss['max'])} | {_f(rss['end_vs_first_pct'])}% | "
            f"{_yes(rss['within'])} | {_f(queue['first'], 0)}, {_f(queue['end'], 0)}, {_f(queue['max'], 0)} | "
            f"{_yes(queue['within'])} |"
        )
    return out


def _cpu(cores: dict[str, float], *extra: str) -> str:
    return " / ".join(_f(cores.get(k), 2) for k in ("server", "postgres", "loadgen", *extra))


def _yes(value: bool) -> str:
    return "yes" if value else "**no**"


def _non_2xx(summary: dict[str, Any]) -> str:
    bad = summary["non_2xx"] + summary["errors"]
    return f"{bad:,} ({100 * bad / summary['requests']:.0f}%)" if bad else "0"


def _all_checked(results: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    ingest = results.get("ingest", {})
    for name, records in [*ingest.get("runs", {}).items(), *results.get("scale", {}).get("runs", {}).items()]:
        for n, rec in enumerate(records, 1):
            if "check" in rec:
                found.append({**rec, "label": f"{name}, run {n}"})
    for name, o in ingest.get("open_loop", {}).items():
        for n, rec in enumerate(o["runs"], 1):
            found.append({**rec, "label": f"{name}, open loop {o['rate']}/s, run {n}"})
    for name, mem in results.get("memory", {}).items():
        found.append({**mem["run"], "label": f"{name}, memory run"})
    if "seed" in results:
        found.append({**results["seed"]["runs"]["bluetick durable"], "label": "bluetick durable, beside the seed peer"})
    for name, soak in results.get("soak", {}).items():
        found.append({**soak["run"], "label": f"{name}, soak run"})
    return found


def _retention(results: dict[str, Any]) -> list[str]:
    r = results["retention"]
    alone = r["purge_alone"]
    out = [
        f"\n## Retention purge ({r['rows']:,} rows past retention, {r['orgs']} organisations, batches of "
        f"{r['batch']} {r['pause_ms']} ms apart; durable ingest, {results['options']['seconds']} s per run, median of "
        f"{results['options']['repeat']})\n",
        "| measure | result |",
        "|---|---:|",
        f"| purge alone, no pause: rows erased, seconds, rows/s | {alone['rows']:,} in {_f(alone['seconds'])} s = "
        f"{_f(alone['rows_per_s'], 0)}/s ({alone['batches']} batches; {alone['left']:,} left) |",
    ]
    for name, rate in r["rates"].items():
        out.append(f"| {name}: webhooks/s (2xx), ack p99 ms | {_f(rate, 0)}, {_f(r['latency_ms'][name])} |")
    out.append(f"| ingest during the purge / ingest alone | {_f(r['ratio'], 2)} |")
    out.append(f"| purge during ingest: rows erased/s | {_f(r['purge_during_rows_per_s'], 0)} |")
    out.append(f"| rows wrong after the runs | {r['rows_wrong']} |")
    return out


def _events(results: dict[str, Any]) -> list[str]:
    e = results["events"]
    s = e["summary"]
    four = "one_ratio" in s  # runs before 62029c5 had no one-subscription variant: rendered as they were
    one, count = ("one webhook subscription (of the busiest organisation), with ", "four") if four else ("", "three")
    out = [
        f"\n## Events out: durable ingest with {one}one webhook subscription per organisation (every event type, to a "
        f"receiver on 127.0.0.1 answering 200 at once), with the feed on and no subscription, and with neither "
        f"({results['load_generator']['connections']} connections, {e['seconds']} s per run, the {count} in another "
        f"order each repeat, median of {e['repeat']})\n",
        "| server | webhooks/s (2xx) | events/s | ack p50 / p99 ms | non-2xx | events written/s during load |"
        " CPU cores: server / postgres / loadgen / receiver / other | flush ms | Postgres: busy backends, top waits |"
        " rows wrong |",
        "|---|---:|---:|---|---:|---:|---|---:|---|---:|",
    ]
    for name, v in e["variants"].items():
        bad = v["non_2xx"]
        out.append(
            f"| {name} | {_f(v['rate'], 0)} | {_f(v['events_per_s'], 0)} | {_f(v['p50_ms'], 1)} / {_f(v['p99_ms'], 1)} "
            f"| {f'{bad:,}' if bad else '0'} | {_f(v['events_written_per_s_load'], 0)} | "
            f"{_cpu(v['cpu_cores'], 'receiver', 'other')} | {_f(v['flush_ms_mean'], 1)} | "
            f"{_f(waits.busy_backends(v['pg_waits']), 2)}, "
            f"{', '.join(f'{what} {share:.0%}' for what, share in waits.shares(v['pg_waits'])[:3])} | "
            f"{v['rows_wrong']} |"
        )

    def each(key: str) -> str:
        return ", ".join(_f(r, 2) for r in s[key])

    met = "met" if s["met"] else "**missed**"
    feed = (
        f"Feed on (events written, none delivered) / without: {_f(s['feed_ratio'], 2)} "
        f"(each repeat: {each('feed_ratios')})."
    )
    if four:
        out += [
            f"\nwith one subscription / without: {_f(s['one_ratio'], 2)} (each repeat: {each('one_ratios')}); "
            f"target >= {s['target']}: {met}. With a subscription per organisation (every event delivered) / "
            f"without: {_f(s['ratio'], 2)} (each repeat: {each('ratios')}); {'>=' if s['every_met'] else '<'} "
            f"{s['target']}. {feed}\n",
            "Deliveries and lag of the runs with a subscription per organisation; counts of both kinds of run.\n",
        ]
    else:
        out.append(
            f"\nwith a subscription / without: {_f(s['ratio'], 2)} (each repeat: {each('ratios')}); "
            f"target >= {s['target']}: {met}. {feed}\n"
        )
    out += [
        "| deliveries | result |",
        "|---|---:|",
        f"| delivered/s during the load | {_f(s['delivered_per_s_load'], 0)} |",
        f"| delivered/s from the load's start to the last delivery | {_f(s['delivered_per_s_total'], 0)} |",
        f"| backlog at the load's end (written, not yet delivered) | {_f(s['backlog_at_load_end'], 0)} |",
        f"| drain after the load s | {_f(s['drain_s'], 1)} |",
        f"| lag from the event's created_at to its arrival, p50 / p99 / max ms | {_f(s['lag_p50_ms'], 1)} / "
        f"{_f(s['lag_p99_ms'], 1)} / {_f(s['lag_max_ms'], 1)} |",
        f"| events in the database / delivered / duplicates / missing (all runs) | {s['events_written']:,} / "
        f"{s['delivered']:,} / {s['duplicates']:,} / {s['missing']:,} |",
        f"| arrived before an older event of the same message | {s['out_of_order']:,} |",
        f"| deliveries answered other than 2xx, timed out or refused (the server's count) | "
        f"{s['outcomes_not_delivered']:,.0f} |",
        f"| sampled signatures verified (standardwebhooks) | {s['signatures_verified']} of "
        f"{s['signatures_verified'] + s['signatures_bad']} |",
    ]
    return out


def _campaigns(results: dict[str, Any]) -> list[str]:
    c = results["campaigns"]
    csv = c["csv"]
    return [
        f"\n## Campaigns: bluetick_campaign_funnel over 30 days, one organisation of {c['rows']:,} rows "
        f"({c['campaign_rows']:,} outbound messages in campaigns; their rollups built in "
        f"{_f(c['rollups_build_s'], 1)} s)\n",
        *(
            [f"Target: the funnel with its rollups up to date in {c['target_ms']} ms or less.\n"]
            if "target_ms" in c
            else []
        ),
        "| funnel | median ms | runs | rows | equals the direct aggregation |",
        "|---|---:|---:|---:|---|",
        *(
            f"| {label} | {_f(c[key]['median_ms'], 1)} | {c[key]['runs']} | {c[key]['rows']} | "
            f"{'yes' if c[key]['same_as_messages'] else '**no**'} |"
            for label, key in (
                ("rollups up to date", "rollups"),
                (
                    f"right after {1000:,} messages changed ({c['dirty_hours_after_change']} hours noted)",
                    "after_change",
                ),
                ("every hour noted (the messages read, as before the rollups)", "messages"),
            )
        ),
        *(
            [
                f"\nThe report page over the 30 days, its Campaigns and Templates sections included: "
                f"{_f(c['page']['median_ms'], 1)} ms (median of {c['page']['runs']}; target < 1000 ms)."
            ]
            if "page" in c
            else []
        ),
        "\n| recipients CSV (`campaign-recipients`, child process) | lines | seconds | peak RSS MB |",
        "|---|---:|---:|---:|",
        *(
            f"| {label} | {csv[key]['lines']:,} | {_f(csv[key]['seconds'], 1)} | {_f(csv[key]['peak_rss_mb'], 1)} |"
            for label, key in (("a tenth", "tenth"), ("all", "all"))
        ),
    ]


def _baseline(results: dict[str, Any]) -> list[str]:
    c = results["baseline"]
    rows = [
        f"| {side['name']} | {side['rate']:,.0f} | {_f(side['p50_ms'], 1)} | {_f(side['p99_ms'], 1)} | "
        f"{', '.join(f'{r:,.0f}' for r in side['rates'])} |"
        for side in (c["head"], c["baseline"])
    ]
    return [
        f"\n## Durable ingest against revision {c['revision']}, in one run (alternating order)\n",
        "| server | webhooks/s (median) | p50 ms | p99 ms | each repeat |",
        "|---|---:|---:|---:|---|",
        *rows,
        f"\nThis tree over {c['revision']}: {_f(c['ratio'], 2)} (each repeat: "
        f"{', '.join(_f(r, 2) for r in c['ratios'])}).",
    ]
