"""Figures from monitoring events, and the alert rules of `[tool.llmops.monitor]`.

Every table (overall, per version, per time window, ...) comes from one function, so a figure
means the same thing everywhere: requests, error/empty/slow rates, PII rates (any type, in the
reply, per type), latency p50/p95/p99/max. Latency counts every event that has one, failures
included: a timeout is what its user waited.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from llmops.errors import InputError
from llmops.monitoring.reading import BadLine, EventTable

if TYPE_CHECKING:
    import pandas as pd

    from llmops.monitoring.duck import DuckTable

T = TypeVar("T", "EventTable", "DuckTable")

#: The figures of every group, in display order.
METRICS = (
    "requests",
    "errors",
    "error_rate",
    "empty_rate",
    "slow_rate",
    "pii_rate",
    "response_pii_rate",
    "p50_latency_ms",
    "p95_latency_ms",
    "p99_latency_ms",
    "max_latency_ms",
)
RATES = ("error_rate", "empty_rate", "slow_rate", "pii_rate", "response_pii_rate")

#: `--by` keys: a column of the events, or a time window (pandas frequency).
COLUMN_KEYS = {"version": "chatbot_version", "target": "target", "model": "model"}
WINDOW_KEYS = {"minute": "1min", "hour": "1h", "day": "1D"}
#: Candidate windows for `--by window`: the finest that gives at most MAX_WINDOWS rows.
AUTO_WINDOWS = ("1min", "5min", "15min", "1h", "6h", "1D", "7D")
MAX_WINDOWS = 60

DEFAULT_ALERT_MIN_REQUESTS = 20
#: Keys of [tool.llmops.monitor] that are settings, not alert rules, with their defaults
#: (docs/monitoring.md's table is held to this by tests/test_docs.py).
SETTING_DEFAULTS: dict[str, Any] = {
    "slow_ms": 2000.0,
    "log_max_bytes": 10 * 1024 * 1024,
    "log_backups": 5,
    "log_text_chars": 2000,
    "alert_min_requests": DEFAULT_ALERT_MIN_REQUESTS,
    "otlp_endpoint": None,
    "otlp_headers_env": "OTEL_EXPORTER_OTLP_HEADERS",
    "otlp_service_name": "llmops",
    "otlp_timeout_s": 5.0,
}
SETTINGS = set(SETTING_DEFAULTS)


@dataclass(frozen=True)
class Rule:
    key: str  # as written in the configuration, e.g. max_error_rate
    metric: str  # e.g. error_rate, p95_latency_ms, pii_rate.CREDIT_CARD
    bound: str  # max | min
    threshold: float

    def breached(self, value: float) -> bool:
        return value > self.threshold if self.bound == "max" else value < self.threshold


@dataclass(frozen=True)
class Alert:
    rule: Rule
    scope: str  # overall | version
    group: str | None
    value: float
    requests: int

    def __str__(self) -> str:
        where = "overall" if self.group is None else f"{self.scope} {self.group}"
        op = ">" if self.rule.bound == "max" else "<"
        return (
            f"ALERT {where}: {self.rule.metric} {fmt_value(self.rule.metric, self.value)} {op} "
            f"{self.rule.key} {fmt_value(self.rule.metric, self.rule.threshold)} "
            f"({self.requests} requests)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.key,
            "metric": self.rule.metric,
            "threshold": self.rule.threshold,
            "value": self.value,
            "scope": self.scope,
            "group": self.group,
            "requests": self.requests,
        }


@dataclass
class Summary:
    overall: dict[str, Any]
    groups: dict[str, pd.DataFrame]  # `--by` key -> one row per group, index = the group
    events: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    window: str | None  # frequency used for `window` and the charts
    over_time: pd.DataFrame | None  # per `window`, for the charts
    files: list[str] = field(default_factory=list)
    bad_lines: list[BadLine] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


def parse_rules(monitor: Mapping[str, Any], source: str = "[tool.llmops.monitor]") -> list[Rule]:
    """`max_<metric>` / `min_<metric>` keys become rules; an unknown metric is an error, since a
    misspelt rule would otherwise never fire."""
    rules = []
    for key, value in monitor.items():
        if key in SETTINGS:
            continue
        m = re.fullmatch(r"(max|min)_(.+)", key)
        if not m:
            continue
        bound, metric = m.groups()
        if metric not in METRICS and not re.fullmatch(r"pii_rate\.[A-Z][A-Z0-9_]*", metric):
            raise InputError(
                f"{source}: unknown rule {key!r}: the metric after max_/min_ is one of "
                f"{', '.join(METRICS)} or pii_rate.TYPE"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{source}: {key} must be a number, not {value!r}")
        rules.append(Rule(key, metric, bound, float(value)))
    return rules


def metrics_table(table: EventTable, keys: pd.Series | None) -> pd.DataFrame:
    """One row of METRICS (plus `pii_rate.TYPE` and `errors.TYPE` columns) per group of `keys`
    (aligned with the events); a single row labelled `all` when keys is None."""
    import numpy as np
    import pandas as pd

    df = table.frame
    if keys is None:
        keys = pd.Series(np.zeros(len(df), dtype=np.int8), name="group").map({0: "all"})
    keys = keys.rename("group")
    status = df["status"]
    work = pd.DataFrame(
        {
            "group": keys,
            "is_error": (status == "error").to_numpy(),
            "is_empty": (status == "empty").to_numpy(),
            "slow": df["slow"].to_numpy(),
            "has_pii": df["has_pii"].to_numpy(),
            "response_pii": df["response_pii"].to_numpy(),
            "latency_ms": df["latency_ms"].to_numpy(),
        }
    )
    g = work.groupby("group", observed=True, sort=True)
    out = g.agg(
        requests=("is_error", "size"),
        errors=("is_error", "sum"),
        error_rate=("is_error", "mean"),
        empty_rate=("is_empty", "mean"),
        slow_rate=("slow", "mean"),
        pii_rate=("has_pii", "mean"),
        response_pii_rate=("response_pii", "mean"),
        max_latency_ms=("latency_ms", "max"),
    )
    q = g["latency_ms"].quantile([0.5, 0.95, 0.99]).unstack()
    out["p50_latency_ms"], out["p95_latency_ms"], out["p99_latency_ms"] = (
        q[0.5],
        q[0.95],
        q[0.99],
    )
    out = out[list(METRICS)]
    if len(table.pii):
        pii_keys = keys.to_numpy()[table.pii["row"].to_numpy()]
        counts = pd.crosstab(pd.Series(pii_keys, name="group"), table.pii["type"].to_numpy())
        rates = counts.div(out["requests"], axis=0).reindex(out.index).fillna(0.0)
        rates.columns = [f"pii_rate.{t}" for t in rates.columns]
        out = out.join(rates)
    errs = df["error_type"]
    if errs.notna().any():
        mask = errs.notna().to_numpy()
        counts = pd.crosstab(pd.Series(keys.to_numpy()[mask], name="group"), errs.to_numpy()[mask])
        counts = counts.reindex(out.index).fillna(0).astype(int)
        counts.columns = [f"errors.{t}" for t in counts.columns]
        out = out.join(counts)
    out["errors"] = out["errors"].astype(int)
    out.index.name = None
    return out


def choose_window(first: pd.Timestamp, last: pd.Timestamp) -> str:
    span = (last - first).total_seconds()
    for freq in AUTO_WINDOWS:
        if span / _seconds(freq) < MAX_WINDOWS:
            return freq
    return AUTO_WINDOWS[-1]


def _seconds(freq: str) -> float:
    import pandas as pd

    return pd.Timedelta(freq).total_seconds()


def group_keys(table: EventTable, by: str, window: str | None) -> pd.Series:
    df = table.frame
    if by in COLUMN_KEYS:
        return df[COLUMN_KEYS[by]].astype("string").fillna("-")
    if by in WINDOW_KEYS or by == "window":
        freq = WINDOW_KEYS.get(by, window or "1h")
        return df["timestamp"].dt.floor(freq).dt.tz_localize(None)
    raise InputError(f"--by {by!r}: use one of {', '.join([*COLUMN_KEYS, *WINDOW_KEYS, 'window'])}")


def filter_since(
    table: T, since: str, now: str | pd.Timestamp | None = None
) -> T:
    """Keep events at or after `since`: a duration back from `now` (30m, 2h, 7d) or an ISO 8601
    time. `now` is the current time unless given: a time, or `last` for the last event (to
    look at an old log). Counting back from the last event by default let one event dated in
    the far future hide every real one."""

    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd])", since.strip())
    if m:
        n, _, last = _time_range(table)
        if not n:
            return table
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        start = _anchor(last, now) - timedelta(**{unit: float(m.group(1))})
    else:
        start = _utc(since, "--since")
    if not isinstance(table, EventTable):
        return table.since(start)
    keep = (table.frame["timestamp"] >= start).to_numpy()
    return table.subset(keep)


def _anchor(last: pd.Timestamp, now: str | pd.Timestamp | None) -> pd.Timestamp:
    import pandas as pd

    if now is None:
        return pd.Timestamp.now(tz="UTC")
    if isinstance(now, str) and now.strip().lower() == "last":
        return last
    return now if isinstance(now, pd.Timestamp) else _utc(now, "--now")


def _utc(value: str, option: str) -> pd.Timestamp:
    import pandas as pd

    try:
        when = pd.Timestamp(value)
    except (ValueError, OverflowError) as exc:
        raise InputError(
            f"{option} {value!r}: use 30m, 2h, 7d or an ISO 8601 time"
            + (" (or last)" if option == "--now" else "")
        ) from exc
    if when is pd.NaT:
        raise InputError(f"{option} {value!r}: not a time")
    return when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")


def _figures(table: EventTable | DuckTable, key: str | None, window: str | None) -> pd.DataFrame:
    """`metrics_table` of either engine's table."""
    if isinstance(table, EventTable):
        return metrics_table(table, None if key is None else group_keys(table, key, window))
    return table.metrics(key, window)


def _time_range(table: EventTable | DuckTable) -> tuple[int, Any, Any]:
    if isinstance(table, EventTable):
        df = table.frame
        n = len(df)
        return n, (df["timestamp"].min() if n else None), (df["timestamp"].max() if n else None)
    n = len(table)
    first, last = table.time_range()
    return n, first, last


def summarize(
    table: EventTable | DuckTable,
    *,
    by: Sequence[str] = ("version", "window"),
    rules: Sequence[Rule] = (),
    alert_min_requests: int = DEFAULT_ALERT_MIN_REQUESTS,
) -> Summary:
    """The figures of a table read by either engine (pandas `read_events`, or DuckDB
    `read_events_duckdb`): the same frames, so the same text, JSON, HTML and alerts."""
    n, first, last = _time_range(table)
    window = choose_window(first, last) if n else None
    overall_row = _figures(table, None, None).iloc[0] if n else None
    overall = _row_dict(overall_row) if overall_row is not None else {"requests": 0}
    groups: dict[str, pd.DataFrame] = {}
    over_time = None
    if n:
        for key in dict.fromkeys(by):  # dedupe, keep order
            groups[key] = _figures(table, key, window)
        over_time = groups.get("window")
        if over_time is None:
            over_time = _figures(table, "window", window)
    summary = Summary(
        overall=overall,
        groups=groups,
        events=n,
        first=first,
        last=last,
        window=window,
        over_time=over_time,
        files=table.files,
        bad_lines=table.bad_lines,
    )
    summary.alerts = check_rules(summary, table, rules, alert_min_requests)
    return summary


def check_rules(
    summary: Summary,
    table: EventTable | DuckTable,
    rules: Sequence[Rule],
    alert_min_requests: int,
) -> list[Alert]:
    """Rules hold overall and for every chatbot version with enough traffic to judge (a new
    version failing is what a team must see, even when the old one dilutes the overall)."""
    if not rules or not summary.events:
        return [Alert(r, "overall", None, 0.0, 0) for r in rules if r.breached(0.0)]
    scopes: list[tuple[str, str | None, Mapping[str, Any]]] = [("overall", None, summary.overall)]
    versions = summary.groups.get("version")
    if versions is None:
        versions = _figures(table, "version", None)
    if len(versions) > 1:
        for name, row in versions.iterrows():
            if row["requests"] >= alert_min_requests:
                scopes.append(("version", str(name), _row_dict(row)))
    alerts = []
    for rule in rules:
        for scope, group, figures in scopes:
            if rule.metric == "requests" and scope != "overall":
                continue
            value = figures.get(rule.metric, 0.0 if rule.metric.startswith("pii_rate.") else None)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            if rule.breached(float(value)):
                alerts.append(Alert(rule, scope, group, float(value), int(figures["requests"])))
    return alerts


def _row_dict(row: pd.Series) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k == "requests" or k == "errors" or str(k).startswith("errors."):
            out[str(k)] = int(v)
        else:
            f = float(v)
            out[str(k)] = None if math.isnan(f) else f
    return out


# --- output -----------------------------------------------------------------------------------


def fmt_value(metric: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if "rate" in metric:
        return f"{value * 100:.1f}%"
    if metric.endswith("_ms"):
        return f"{value:,.1f}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3f}"


def _table_text(frame: pd.DataFrame) -> str:
    cols = [c for c in METRICS if c in frame.columns and c != "errors"]
    shown = frame[cols].copy()
    formatted = {c: shown[c].map(lambda v, c=c: fmt_value(c, v)) for c in cols}
    import pandas as pd

    text_frame = pd.DataFrame(formatted, index=[label(i) for i in shown.index])
    text_frame.columns = [
        c.replace("_latency_ms", "_ms").replace("response_", "resp_") for c in cols
    ]
    return text_frame.to_string()


def label(value: Any) -> str:
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def to_text(summary: Summary) -> str:
    lines = []
    files = ", ".join(summary.files) or "-"
    bad = f", {len(summary.bad_lines)} bad lines skipped" if summary.bad_lines else ""
    lines.append(f"monitoring summary: {summary.events:,} events from {files}{bad}")
    if not summary.events:
        lines.append("no events to summarise")
    else:
        o = summary.overall
        lines.append(
            f"from {label(summary.first)} to {label(summary.last)} UTC "
            f"(time window {summary.window})"
        )
        lines.append("")
        lines.append(
            f"requests {o['requests']:,}   errors {fmt_value('error_rate', o['error_rate'])}   "
            f"empty {fmt_value('empty_rate', o['empty_rate'])}   "
            f"slow {fmt_value('slow_rate', o['slow_rate'])}   "
            f"PII {fmt_value('pii_rate', o['pii_rate'])} "
            f"(in replies {fmt_value('pii_rate', o['response_pii_rate'])})"
        )
        lines.append(
            "latency ms   "
            + "   ".join(
                f"{p} {fmt_value('x_ms', o[f'{p}_latency_ms'])}"
                for p in ("p50", "p95", "p99", "max")
            )
        )
        pii = {k[9:]: v for k, v in o.items() if k.startswith("pii_rate.")}
        if pii:
            lines.append(
                "PII by type  "
                + ", ".join(f"{t} {fmt_value('rate', v)}" for t, v in sorted(pii.items()))
            )
        errs = {k[7:]: v for k, v in o.items() if k.startswith("errors.")}
        if errs:
            lines.append(
                "errors by type  " + ", ".join(f"{t} {v}" for t, v in sorted(errs.items()))
            )
        for key, frame in summary.groups.items():
            title = f"by {key}" + (f" ({summary.window})" if key == "window" else "")
            lines += ["", title, _table_text(frame)]
    lines.append("")
    if summary.alerts:
        lines += [str(a) for a in summary.alerts]
    else:
        lines.append("no alerts")
    return "\n".join(lines)


def to_json(summary: Summary) -> dict[str, Any]:
    def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
        return [{"group": _json_label(idx), **_row_dict(row)} for idx, row in frame.iterrows()]

    return {
        "files": summary.files,
        "events": summary.events,
        "first": _json_label(summary.first) if summary.first is not None else None,
        "last": _json_label(summary.last) if summary.last is not None else None,
        "window": summary.window,
        "bad_lines": [
            {"file": b.path, "line": b.line, "reason": b.reason} for b in summary.bad_lines
        ],
        "overall": summary.overall,
        "by": {key: records(frame) for key, frame in summary.groups.items()},
        "alerts": [a.to_dict() for a in summary.alerts],
    }


def _json_label(value: Any) -> str:
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text.replace("+00:00", "Z") if "+00:00" in text else text + "Z"
    return str(value)
