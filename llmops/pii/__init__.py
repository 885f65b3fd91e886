"""PII and financial-disclosure detection, with redaction.

    from llmops.pii import redact, scan, get_detector
    redact("Call me at +44 20 7946 0958")          # 'Call me at <PHONE_NUMBER>'
    get_detector(allow=cfg.pii_allow).pii(answer)  # findings: type, start, end, score

Findings never carry the matched text. Every artifact that stores text goes through `redact`.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from llmops.pii.detector import Detector
from llmops.pii.finding import Finding
from llmops.pii.phone import DEFAULT_REGIONS
from llmops.pii.types import ALL_TYPES, FINANCIAL_TYPES, PII_TYPES

__all__ = [
    "ALL_TYPES",
    "DEFAULT_REGIONS",
    "FINANCIAL_TYPES",
    "PII_TYPES",
    "Detector",
    "Finding",
    "detector_from_config",
    "get_detector",
    "redact",
    "scan",
]


def get_detector(
    allow: Iterable[str] = (), regions: Iterable[str] | None = None, threshold: float = 0.5
) -> Detector:
    """A shared detector for these settings (built once per distinct allow/regions/threshold)."""
    if isinstance(allow, str):
        allow = (allow,)
    if isinstance(regions, str):
        regions = (regions,)
    return _detector(
        tuple(str(v) for v in allow),
        tuple(regions) if regions is not None else None,
        float(threshold),
    )


@lru_cache(maxsize=32)
def _detector(
    allow: tuple[str, ...], regions: tuple[str, ...] | None, threshold: float
) -> Detector:
    return Detector(allow=allow, regions=regions, threshold=threshold)


def detector_from_config(config: Any) -> Detector:
    """The detector `[tool.llmops.pii]` asks for (keys `allow`, `regions`, `threshold`)."""
    pii = dict(getattr(config, "pii", None) or {})
    return get_detector(
        allow=pii.get("allow", getattr(config, "pii_allow", ())),
        regions=pii.get("regions"),
        threshold=pii.get("threshold", 0.5),
    )


def scan(text: str) -> list[Finding]:
    """Findings in `text` with the default detector (no allowlist, default regions)."""
    return get_detector().scan(text)


def redact(text: str) -> str:
    """`text` with every finding replaced by "<ENTITY_TYPE>": what artifacts may store."""
    return get_detector().redact(text)
