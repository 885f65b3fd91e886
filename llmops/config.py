"""`[tool.llmops]` from pyproject.toml, with environment and command-line overrides.

Read once per process (the pytest plugin and each CLI command call `load_config` once) and passed
down: the core never reads configuration on its own.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from llmops.errors import InputError
from llmops.generation import Generation
from llmops.limits import Limits

DEFAULTS: dict[str, Any] = {
    "cases": "cases",
    "target": "reference",
    "model": None,
    "concurrency": 8,
    "adaptive_concurrency": True,
    "timeout_s": 30.0,
    "retries": 2,
    "max_latency_ms": 3000,
    "reports": "reports",
    "feedback": "feedback/feedback.jsonl",
    "logs": "logs",
    "min_pass_rate": 1.0,
}


@dataclass(frozen=True)
class Config:
    root: Path
    cases: Path
    target: str
    model: str | None
    #: The most cases asked at once (the adaptive limit's ceiling).
    concurrency: int
    timeout_s: float
    retries: int
    max_latency_ms: float
    reports: Path
    feedback: Path
    logs: Path
    #: Default share of samples a case's checks must pass (a case's own key wins).
    min_pass_rate: float = 1.0
    pii_allow: tuple[str, ...] = ()
    pii: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=dict)
    monitor: dict[str, Any] = field(default_factory=dict)
    chatbot: dict[str, Any] = field(default_factory=dict)
    redteam: dict[str, Any] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    #: Generation settings sent to OpenAI-compatible targets (a case's own keys win).
    generation: Generation = field(default_factory=Generation)
    #: Adapt the number of cases asked at once to the target (up to `concurrency`).
    adaptive_concurrency: bool = True
    #: `[tool.llmops.judge]` and `[tool.llmops.embeddings]`, checked where they are used
    #: (llmops.quality), so a project without quality checks never trips on them.
    judge: dict[str, Any] = field(default_factory=dict)
    embeddings: dict[str, Any] = field(default_factory=dict)

    @property
    def api_key(self) -> str | None:
        """Secrets come from the environment only, never from a file we read or write."""
        return os.environ.get("LLMOPS_API_KEY") or os.environ.get("OPENAI_API_KEY")

    def with_overrides(self, **values: Any) -> Config:
        """A copy with the given (non-None) values replaced; paths resolved against root."""
        clean = {k: v for k, v in values.items() if v is not None}
        for key in ("cases", "reports", "feedback", "logs"):
            if key in clean:
                clean[key] = self.resolve(clean[key])
        return replace(self, **clean)

    def resolve(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.root / p


def find_root(start: Path | None = None) -> Path:
    """The nearest directory at or above `start` holding a pyproject.toml (else `start`)."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "pyproject.toml").is_file():
            return d
    return here


def load_config(root: Path | None = None) -> Config:
    root = find_root(root)
    table: dict[str, Any] = {}
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{pyproject}: {exc}") from exc
        table = data.get("tool", {}).get("llmops", {})
    merged = {**DEFAULTS, **{k: v for k, v in table.items() if not isinstance(v, dict)}}
    if os.environ.get("LLMOPS_TARGET"):
        merged["target"] = os.environ["LLMOPS_TARGET"]
    pii = dict(table.get("pii", {}))
    limits = Limits.from_table(
        dict(table.get("limits", {})), source=f"{pyproject}: [tool.llmops.limits]"
    )
    generation = Generation.from_table(
        dict(table.get("generation", {})), source=f"{pyproject}: [tool.llmops.generation]"
    )
    adaptive = merged["adaptive_concurrency"]
    if not isinstance(adaptive, bool):
        raise InputError(f"{pyproject}: [tool.llmops] adaptive_concurrency must be true or "
                         f"false, not {adaptive!r}")
    rate = merged["min_pass_rate"]
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise InputError(
            f"{pyproject}: [tool.llmops] min_pass_rate must be a number from 0 to 1, not {rate!r}"
        )
    try:
        return Config(
            root=root,
            cases=root / merged["cases"],
            target=str(merged["target"]),
            model=merged.get("model"),
            concurrency=max(1, int(merged["concurrency"])),
            timeout_s=float(merged["timeout_s"]),
            retries=max(0, int(merged["retries"])),
            max_latency_ms=float(merged["max_latency_ms"]),
            reports=root / merged["reports"],
            feedback=root / merged["feedback"],
            logs=root / merged["logs"],
            min_pass_rate=float(rate),
            pii_allow=tuple(str(v) for v in pii.get("allow", ())),
            pii=pii,
            gate=dict(table.get("gate", {})),
            monitor=dict(table.get("monitor", {})),
            chatbot=dict(table.get("chatbot", {})),
            redteam=dict(table.get("redteam", {})),
            limits=limits,
            generation=generation,
            adaptive_concurrency=adaptive,
            judge=dict(table.get("judge", {})),
            embeddings=dict(table.get("embeddings", {})),
        )
    except (TypeError, ValueError) as exc:
        raise InputError(f"{pyproject}: [tool.llmops]: {exc}") from exc
