"""`llmops monitor simulate` and `llmops monitor summarize`: the monitoring phase.

Exit codes: 0 done / no alert; 1 an alert fired; 2 bad input (unreadable log, unknown --by,
unknown rule, no valid event in a non-empty log).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

MAX_BAD_LINES_SHOWN = 20
#: `--engine auto` reads with DuckDB from this much input on (pandas starts faster below it).
AUTO_DUCKDB_BYTES = 100_000_000


def register(sub: Any) -> None:
    p = sub.add_parser("monitor", help="simulate monitored traffic; summarise monitoring logs")
    cmds = p.add_subparsers(dest="monitor_command", metavar="COMMAND", required=True)

    s = cmds.add_parser(
        "simulate",
        help="send a realistic mix of prompts through the monitored chatbot",
        description="Send a seeded mix of conversations (ordinary questions, PII, account "
        "requests, injection attempts, empty and very long messages) through the monitored "
        "chatbot; every exchange lands in logs/monitoring.jsonl and logs/monitoring.log.",
    )
    s.add_argument("--requests", "-n", type=int, default=100, help="user turns to send (100)")
    s.add_argument("--target", help="target string (default: [tool.llmops] target)")
    s.add_argument("--concurrency", "-c", type=int, help="requests in flight at once")
    s.add_argument("--seed", type=int, default=None, help="seed of the traffic mix")
    s.add_argument("--logs", type=Path, help="logs directory (default: [tool.llmops] logs)")
    s.add_argument("--timeout", type=float, help="seconds per request (default: timeout_s)")
    s.add_argument("--retries", type=int, help="retries of transient failures (default: retries)")
    s.set_defaults(func=simulate)

    m = cmds.add_parser(
        "summarize",
        aliases=["summarise"],
        help="figures and alerts from monitoring logs",
        description="Summarise monitoring events: requests, error/empty/slow rates, PII rates, "
        "latency percentiles, overall and per group; alert rules of [tool.llmops.monitor] "
        "exit 1 when one fires. Bad lines are reported as FILE:LINE: why and skipped.",
    )
    m.add_argument(
        "logs",
        nargs="*",
        metavar="LOG",
        help="JSONL logs, Parquet files from `monitor export`, directories (their "
        "monitoring.jsonl and its backups) or quoted globs ('hosts/*/monitoring.jsonl*') "
        "(default: logs/monitoring.jsonl and its rotated backups)",
    )
    m.add_argument(
        "--engine",
        choices=("auto", "duckdb", "pandas"),
        default="auto",
        help="read with DuckDB (any size, many files, Parquet) or pandas (in memory); auto: "
        f"DuckDB from {AUTO_DUCKDB_BYTES // 1_000_000} MB of input or for Parquet, pandas "
        "below (it starts faster) (default: auto)",
    )
    m.add_argument(
        "--by",
        action="append",
        metavar="KEY",
        help="group by version, target, model, minute, hour, day or window (automatic time "
        "window); repeat or comma-separate (default: version,window)",
    )
    m.add_argument(
        "--since",
        help="only events since a duration before now (30m, 2h, 7d) or an ISO 8601 time",
    )
    m.add_argument(
        "--now",
        metavar="TIME",
        help="the time --since counts back from: an ISO 8601 time, or `last` for the last "
        "event (default: the current time)",
    )
    m.add_argument("--json", action="store_true", help="print the summary as JSON")
    m.add_argument(
        "--html",
        nargs="?",
        type=Path,
        const=True,
        metavar="PATH",
        help="also write an HTML page with charts (default: reports/monitoring.html)",
    )
    m.set_defaults(func=summarize)

    e = cmds.add_parser(
        "export",
        help="write monitoring events to Parquet, for DuckDB, pandas, Spark...",
        description="Read monitoring logs (as summarize does: globs, directories, rotated "
        "backups; bad lines reported as FILE:LINE: why and skipped) and write their events "
        "to one Parquet file, which `llmops monitor summarize` reads back in a fraction of "
        "the time. The texts are left out: the figures' columns only.",
    )
    e.add_argument("logs", nargs="*", metavar="LOG", help="as for summarize")
    e.add_argument(
        "--parquet", type=Path, required=True, metavar="PATH", help="the Parquet file to write"
    )
    e.add_argument("--since", help="only events since a duration before now, or a time")
    e.add_argument("--now", metavar="TIME", help="the time --since counts back from")
    e.set_defaults(func=export)


def simulate(args: argparse.Namespace) -> int:
    from llmops.config import load_config
    from llmops.errors import InputError
    from llmops.monitoring.simulate import simulate as run
    from llmops.monitoring.wrapper import Monitor
    from llmops.runner import RetryPolicy

    if args.requests < 0:
        raise InputError("--requests must be 0 or more")
    cfg = load_config()
    cfg = cfg.with_overrides(
        target=args.target,
        concurrency=args.concurrency,
        logs=args.logs,
        timeout_s=args.timeout,
        retries=args.retries,
    )
    monitor = Monitor.from_config(cfg)
    try:
        result = run(
            cfg.target,
            monitor,
            requests=args.requests,
            concurrency=max(1, cfg.concurrency),
            seed=args.seed,
            policy=RetryPolicy(retries=cfg.retries, timeout_s=cfg.timeout_s),
            model=cfg.model,
            api_key=cfg.api_key,
            root=cfg.root,
            limits=cfg.limits,
            generation=cfg.generation,
        )
    finally:
        monitor.close()
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(result.statuses.items())) or "none"
    print(
        f"simulated {result.requests} requests through {result.target} in "
        f"{result.elapsed_s:.1f} s ({statuses}); logs in {monitor.directory}"
    )
    if monitor.dropped:
        print(f"{monitor.dropped} events could not be logged", file=sys.stderr)
        return 1
    return 0


def _read(args: argparse.Namespace, cfg: Any, engine: str) -> Any:
    """The events of the logs the arguments name, by `engine`, bad lines on stderr."""
    from llmops.errors import InputError
    from llmops.monitoring.duck import available, expand, read_events_duckdb
    from llmops.monitoring.logfiles import JSONL_NAME
    from llmops.monitoring.reading import BadLine, log_files, read_events

    if args.logs:
        paths = expand(args.logs)
    else:
        default = _relative(cfg.logs / JSONL_NAME)  # reports read logs/x.jsonl:17
        paths = log_files(default)
        if not paths:
            raise InputError(f"{default}: no such file (run llmops monitor simulate, or give LOG)")
    parquet = any(p.suffix.lower() in (".parquet", ".pq") for p in paths)
    if engine == "auto":
        size = sum(p.stat().st_size for p in paths)
        engine = "duckdb" if available() and (parquet or size >= AUTO_DUCKDB_BYTES) else "pandas"
    if engine == "pandas" and parquet:
        raise InputError("Parquet input needs --engine duckdb (or auto)")
    if engine == "duckdb" and not available():
        raise InputError('--engine duckdb needs DuckDB: pip install "llmops[monitor]"')

    shown = 0

    def on_bad(bad: BadLine) -> None:
        nonlocal shown
        shown += 1
        if shown <= MAX_BAD_LINES_SHOWN:
            print(bad, file=sys.stderr)

    reader = read_events_duckdb if engine == "duckdb" else read_events
    table = reader(paths, on_bad=on_bad, limits=cfg.limits)
    if shown > MAX_BAD_LINES_SHOWN:
        print(f"... and {shown - MAX_BAD_LINES_SHOWN} more bad lines", file=sys.stderr)
    if table.bad_lines and not len(table):
        raise InputError(f"{', '.join(map(str, paths))}: no valid event to summarise")
    return table


def summarize(args: argparse.Namespace) -> int:
    from llmops.config import load_config
    from llmops.errors import InputError
    from llmops.monitoring.summary import (
        DEFAULT_ALERT_MIN_REQUESTS,
        filter_since,
        parse_rules,
        to_json,
        to_text,
    )
    from llmops.monitoring.summary import (
        summarize as make_summary,
    )

    cfg = load_config()
    rules = parse_rules(cfg.monitor, source=f"{cfg.root / 'pyproject.toml'}: [tool.llmops.monitor]")
    by = [k.strip() for arg in (args.by or ["version,window"]) for k in arg.split(",") if k.strip()]
    table = _read(args, cfg, args.engine)
    try:
        if args.since:
            table = filter_since(table, args.since, now=args.now)
        try:
            min_requests = int(cfg.monitor.get("alert_min_requests", DEFAULT_ALERT_MIN_REQUESTS))
        except (TypeError, ValueError) as exc:
            raise InputError(f"[tool.llmops.monitor] alert_min_requests: {exc}") from exc
        summary = make_summary(table, by=by, rules=rules, alert_min_requests=min_requests)
    finally:
        if hasattr(table, "close"):
            table.close()
    if args.json:
        print(json.dumps(to_json(summary), indent=2, ensure_ascii=False))
    else:
        print(to_text(summary))
    if args.html:
        from llmops.monitoring.report import write_html

        path = cfg.reports / "monitoring.html" if args.html is True else args.html
        write_html(summary, path)
        print(f"HTML report: {path}", file=sys.stderr)
    return 1 if summary.alerts else 0


def export(args: argparse.Namespace) -> int:
    from llmops.config import load_config
    from llmops.monitoring.summary import filter_since

    cfg = load_config()
    table = _read(args, cfg, "duckdb")
    try:
        if args.since:
            table = filter_since(table, args.since, now=args.now)
        n = table.export_parquet(args.parquet)
    finally:
        table.close()
    bad = f", {len(table.bad_lines)} bad lines skipped" if table.bad_lines else ""
    print(f"wrote {n:,} events from {len(table.files)} files to {args.parquet}{bad}")
    return 0


def _relative(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path
