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

# Before any other module of the package loads: a compiled build (llmops/pii/_native/, see
# backend.py) goes first on __path__ only if it was made from exactly these sources for this
# interpreter; else, or with LLMOPS_PII_PURE=1, the pure-Python modules load.
from llmops.pii.backend import activate as _activate

BACKEND: str = _activate(__path__)  # "compiled" or "python"

from llmops.pii.detector import Detector  # noqa: E402
from llmops.pii.finding import Finding  # noqa: E402
from llmops.pii.phone import DEFAULT_REGIONS  # noqa: E402
from llmops.pii.types import ALL_TYPES, FINANCIAL_TYPES, PII_TYPES  # noqa: E402

__all__ = [
    "ALL_TYPES",
    "BACKEND",
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
