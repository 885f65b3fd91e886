"""Counts of feedback by category, rating, chatbot version, source and status."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from llmops.feedback.records import is_negative

DIMENSIONS = ("category", "rating", "chatbot_version", "source", "status")
NONE = "(none)"


def stats(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """`{"total", "negative", "by": {dimension: {value: count}}, "negative_by_version"}`."""
    records = list(records)
    rows = [{d: _label(r.get(d)) for d in DIMENSIONS} for r in records]
    negative = [is_negative(r.get("rating")) for r in records]
    # Most frequent first; equal counts in the order they first appear.
    by = {d: dict(Counter(row[d] for row in rows).most_common()) for d in DIMENSIONS}
    seen: dict[str, list[bool]] = {}
    for row, neg in zip(rows, negative, strict=True):
        seen.setdefault(row["chatbot_version"], []).append(neg)
    return {
        "total": len(rows),
        "negative": sum(negative),
        "by": by,
        "negative_share_by_version": {
            v: round(sum(flags) / len(flags), 4) for v, flags in sorted(seen.items())
        },
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
