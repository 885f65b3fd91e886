"""Counts of feedback by category, rating, chatbot version, source and status (pandas)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from llmops.feedback.records import is_negative

DIMENSIONS = ("category", "rating", "chatbot_version", "source", "status")
NONE = "(none)"


def stats(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """`{"total", "negative", "by": {dimension: {value: count}}, "negative_by_version"}`."""
    import pandas as pd

    records = list(records)
    rows = [{d: _label(r.get(d)) for d in DIMENSIONS} for r in records]
    frame = pd.DataFrame(rows, columns=list(DIMENSIONS), dtype="string")
    negative = pd.Series([is_negative(r.get("rating")) for r in records], dtype=bool)
    by = {
        d: {str(k): int(v) for k, v in frame[d].value_counts(sort=True).items()} for d in DIMENSIONS
    }
    share = (
        negative.groupby(frame["chatbot_version"]).mean().round(4) if len(frame) else pd.Series()
    )
    return {
        "total": len(frame),
        "negative": int(negative.sum()),
        "by": by,
        "negative_share_by_version": {str(k): float(v) for k, v in share.items()},
    }


def _label(value: Any) -> str:
    return NONE if value is None or value == "" else str(value)


def render(summary: Mapping[str, Any]) -> str:
    """A plain-text table per dimension, for the terminal."""
    lines = [f"feedback records: {summary['total']} ({summary['negative']} negative)"]
    for dim, counts in summary["by"].items():
        if not counts:
            continue
        lines.append("")
        lines.append(f"by {dim.replace('_', ' ')}:")
        width = max(len(k) for k in counts)
        for key, n in counts.items():
            pct = 100 * n / summary["total"] if summary["total"] else 0
            lines.append(f"  {key:<{width}}  {n:>6}  {pct:5.1f}%")
    shares = summary.get("negative_share_by_version") or {}
    if shares:
        lines.append("")
        lines.append("negative share by chatbot version:")
        width = max(len(k) for k in shares)
        for key, share in shares.items():
            lines.append(f"  {key:<{width}}  {100 * share:5.1f}%")
    return "\n".join(lines)
