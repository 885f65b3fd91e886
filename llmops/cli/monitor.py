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
        type=Path,
        metavar="LOG",
        help="JSONL logs (default: logs/monitoring.jsonl and its rotated backups)",
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


def summarize(args: argparse.Namespace) -> int:
    from llmops.config import load_config
    from llmops.errors import InputError
    from llmops.monitoring.logfiles import JSONL_NAME
    from llmops.monitoring.reading import BadLine, log_files, read_events
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
    if args.logs:
        missing = [p for p in args.logs if not p.is_file()]
        if missing:
            raise InputError(f"{missing[0]}: no such file")
        paths = list(args.logs)
    else:
        default = _relative(cfg.logs / JSONL_NAME)  # reports read logs/x.jsonl:17
        paths = log_files(default)
        if not paths:
            raise InputError(f"{default}: no such file (run llmops monitor simulate, or give LOG)")

    shown = 0

    def on_bad(bad: BadLine) -> None:
        nonlocal shown
        shown += 1
        if shown <= MAX_BAD_LINES_SHOWN:
            print(bad, file=sys.stderr)

    table = read_events(paths, on_bad=on_bad, limits=cfg.limits)
    if shown > MAX_BAD_LINES_SHOWN:
        print(f"... and {shown - MAX_BAD_LINES_SHOWN} more bad lines", file=sys.stderr)
    if table.bad_lines and not len(table.frame):
        raise InputError(f"{', '.join(map(str, paths))}: no valid event to summarise")
    if args.since:
        table = filter_since(table, args.since, now=args.now)
    try:
        min_requests = int(cfg.monitor.get("alert_min_requests", DEFAULT_ALERT_MIN_REQUESTS))
    except (TypeError, ValueError) as exc:
        raise InputError(f"[tool.llmops.monitor] alert_min_requests: {exc}") from exc
    summary = make_summary(table, by=by, rules=rules, alert_min_requests=min_requests)
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


def _relative(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path
