"""The monitoring summary as one self-contained HTML page: charts (matplotlib, Agg backend, PNG
embedded as base64) of traffic, latency and error rate over time, then the tables and alerts."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING

from llmops.fileio import write_atomic
from llmops.monitoring.summary import METRICS, Summary, fmt_value, label

if TYPE_CHECKING:
    import pandas as pd

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
.alert{color:#a00;font-weight:bold}.ok{color:#070}
.charts img{max-width:100%;border:1px solid #eee;margin:.3em 0}
.figures span{display:inline-block;margin-right:2em}
"""


def write_html(summary: Summary, path: Path) -> Path:
    write_atomic(path, render_html(summary))
    return path


def render_html(summary: Summary) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<title>llmops monitoring</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>llmops monitoring summary</h1>",
        f"<p>{summary.events:,} events from {html.escape(', '.join(summary.files) or '-')}",
    ]
    if summary.events:
        parts.append(
            f"<br>from {label(summary.first)} to {label(summary.last)} UTC, "
            f"time window {html.escape(summary.window or '-')}"
        )
    parts.append("</p>")
    parts.append("<h2>Alerts</h2>")
    if summary.alerts:
        parts.append("<ul>")
        parts += [f"<li class='alert'>{html.escape(str(a))}</li>" for a in summary.alerts]
        parts.append("</ul>")
    else:
        parts.append("<p class='ok'>No alerts.</p>")
    if summary.events:
        o = summary.overall
        parts.append("<h2>Overall</h2><p class='figures'>")
        parts += [
            f"<span><b>{html.escape(m.replace('_', ' '))}</b> {fmt_value(m, o.get(m))}</span>"
            for m in METRICS
        ]
        parts.append("</p>")
        parts.append("<h2>Over time</h2><div class='charts'>")
        for title, png in charts(summary):
            parts.append(
                f"<div><img alt='{html.escape(title)}' "
                f"src='data:image/png;base64,{base64.b64encode(png).decode()}'></div>"
            )
        parts.append("</div>")
        for key, frame in summary.groups.items():
            parts.append(f"<h2>By {html.escape(key)}</h2>")
            parts.append(_table_html(frame))
    if summary.bad_lines:
        parts.append(f"<h2>Bad lines skipped ({len(summary.bad_lines)})</h2><ul>")
        parts += [f"<li>{html.escape(str(b))}</li>" for b in summary.bad_lines[:200]]
        if len(summary.bad_lines) > 200:
            parts.append(f"<li>... and {len(summary.bad_lines) - 200} more</li>")
        parts.append("</ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _table_html(frame: pd.DataFrame) -> str:
    cols = [c for c in frame.columns if c in METRICS or c.startswith(("pii_rate.", "errors."))]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["", *cols])
    rows = []
    for idx, row in frame.iterrows():
        cells = "".join(f"<td>{fmt_value(c, row[c])}</td>" for c in cols)
        rows.append(f"<tr><td>{html.escape(label(idx))}</td>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def charts(summary: Summary) -> list[tuple[str, bytes]]:
    """(title, PNG) of requests, latency percentiles and error/empty rates per time window."""
    import matplotlib

    matplotlib.use("Agg")  # no display; a report is a file
    import matplotlib.pyplot as plt

    frame = summary.over_time
    if frame is None or not len(frame):
        return []
    x = frame.index
    out = []
    # (title, [(column, legend)], y label, y scale): latency on a log scale, since one timeout
    # (30 s) would flatten every ordinary answer (0.2 s) to the axis.
    specs: list[tuple[str, list[tuple[str, str]], str, str]] = [
        ("Requests", [("requests", "requests")], "requests", "linear"),
        (
            "Latency (ms, log scale)",
            [("p50_latency_ms", "p50"), ("p95_latency_ms", "p95"), ("p99_latency_ms", "p99")],
            "ms",
            "log",
        ),
        (
            "Error, empty and PII rates",
            [
                ("error_rate", "error rate"),
                ("empty_rate", "empty rate"),
                ("slow_rate", "slow rate"),
                ("pii_rate", "PII rate"),
                ("response_pii_rate", "PII in replies"),
            ],
            "share of requests",
            "linear",
        ),
    ]
    for title, series, ylabel, yscale in specs:
        fig, ax = plt.subplots(figsize=(10, 3))
        try:
            for col, name in series:
                if len(x) == 1:  # one window: bars, a line needs two points
                    ax.bar([f"{label(x[0])}\n{name}"], frame[col].to_numpy(), label=name)
                else:
                    ax.plot(x, frame[col].to_numpy(), marker=".", label=name)
            ax.set_title(f"{title}, per {summary.window}")
            ax.set_ylabel(ylabel)
            if yscale == "log":
                ax.set_yscale("log")
            else:
                ax.set_ylim(bottom=0)
            if len(series) > 1:
                ax.legend(loc="upper left")
            ax.grid(alpha=0.3)
            fig.autofmt_xdate()
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=80)
            out.append((title, buf.getvalue()))
        finally:
            plt.close(fig)
    return out
