"""Versions of the reference chatbot are data: one YAML file each.

Built-in versions ship in the package (`llmops/chatbot/versions/*.yaml`): `v1` is the good bot,
`v2` a realistic regression. Versions built by `llmops chatbot retrain` are written to the
project's versions directory (`[tool.llmops.chatbot] versions_dir`, default `chatbot_versions/`
at the project root), never into the installed package. A version file:

```yaml
name: v1
description: The good bot.
kb: kb.yaml                 # knowledge base: next to this file, else the package's data/
base: null                  # the version it was derived from (retrain)
feedback_ids: []            # feedback records whose corrected answers it learnt (retrain)
policy:
  guard: true               # redact PII from every answer before it leaves the bot
  refuse_account_data: true # refuse balances, transactions... (false: make them up, v2)
  refuse_third_party: true  # refuse other customers' data
  resist_injection: true    # refuse prompt-injection attempts
  echo_identifiers: false   # repeat account numbers and e-mails the user gave (v2)
generation:
  latency_ms: 10            # simulated think time of `areply`
  max_answer_chars: 600
  min_score: 2.0            # BM25 score below which a question is out of scope
  min_coverage: 0.4         # share of the question's words the topic must know...
  min_matched: 2            # ...or at least this many of them
  context_turns: 2          # earlier user turns used when the last one is too vague
```

`backend: llm` (default `retrieval`) answers with a real language model instead, configured by
an `llm:` section (system prompt, temperature, max_tokens, seed, ...: see `llmops.chatbot.llm`);
the knowledge base then gives the model its context, and `policy.guard` still applies.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import InputError
from llmops.yamlio import read_yaml

if TYPE_CHECKING:
    from llmops.chatbot.llm import LLMSettings
    from llmops.config import Config

BUILTIN_DIR = Path(__file__).parent / "versions"
DATA_DIR = Path(__file__).parent / "data"
DEFAULT_VERSIONS_DIR = "chatbot_versions"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

POLICY_KEYS = (
    "guard",
    "refuse_account_data",
    "refuse_third_party",
    "resist_injection",
    "echo_identifiers",
)
GENERATION_KEYS = (
    "latency_ms",
    "max_answer_chars",
    "min_score",
    "min_coverage",
    "min_matched",
    "context_turns",
)
TOP_KEYS = {"name", "description", "kb", "base", "feedback_ids", "created_at", "policy",
            "generation", "backend", "llm"}
BACKENDS = ("retrieval", "llm")


@dataclass(frozen=True)
class VersionSpec:
    name: str
    description: str
    #: Simulated think time of `Chatbot.areply` (v2 is slower).
    latency_ms: float
    #: Output guard: PII redacted from every answer.
    guard: bool
    #: The knowledge base file.
    kb: Path = DATA_DIR / "kb.yaml"
    refuse_account_data: bool = True
    refuse_third_party: bool = True
    resist_injection: bool = True
    echo_identifiers: bool = False
    max_answer_chars: int = 600
    min_score: float = 2.0
    min_coverage: float = 0.4
    min_matched: int = 2
    context_turns: int = 2
    #: The version this one was derived from, and the feedback ids it learnt from (retrain).
    base: str | None = None
    feedback_ids: tuple[str, ...] = ()
    created_at: str | None = None
    #: The file it was read from, and whether it ships with llmops.
    path: Path | None = field(default=None, compare=False)
    builtin: bool = False
    #: Who writes the answers: the retrieval bot, or a language model (`llm` settings).
    backend: str = "retrieval"
    llm: LLMSettings | None = None

    def to_doc(self, kb: str) -> dict[str, Any]:
        """The YAML document of this version, with `kb` written as given (a relative name)."""
        return {
            "name": self.name,
            "description": self.description,
            "kb": kb,
            "base": self.base,
            "created_at": self.created_at,
            "feedback_ids": list(self.feedback_ids),
            "policy": {k: getattr(self, k) for k in POLICY_KEYS},
            "generation": {k: getattr(self, k) for k in GENERATION_KEYS},
        } | ({"backend": self.backend, "llm": self.llm.to_doc()} if self.llm else {})


def _check_type(value: Any, want: type | tuple[type, ...], where: str) -> Any:
    # bool is an int in Python; a YAML `true` must not pass for a number.
    if isinstance(value, bool) and want is not bool:
        raise InputError(f"{where}: expected a number, got {value!r}")
    if not isinstance(value, want):
        raise InputError(f"{where}: expected {getattr(want, '__name__', 'a number')}, "
                         f"got {value!r}")
    return value


def parse_version(doc: Any, path: Path, *, builtin: bool = False) -> VersionSpec:
    if not isinstance(doc, dict):
        raise InputError(f"{path}: expected a mapping (name, description, kb, policy, generation)")
    unknown = set(doc) - TOP_KEYS
    if unknown:
        raise InputError(f"{path}: unknown keys {sorted(unknown)}")
    name = doc.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise InputError(f"{path}: name: expected a version name like v3, got {name!r}")
    if name != path.stem:
        raise InputError(f"{path}: name {name!r} differs from the file name {path.stem!r}")
    values: dict[str, Any] = {"name": name, "path": path, "builtin": builtin}
    values["description"] = str(doc.get("description") or "")
    kb = doc.get("kb", "kb.yaml")
    if not isinstance(kb, str) or not kb:
        raise InputError(f"{path}: kb: expected a file name")
    kb_path = path.parent / kb
    values["kb"] = kb_path if kb_path.is_file() or Path(kb).is_absolute() else DATA_DIR / kb
    if doc.get("base") is not None:
        values["base"] = str(doc["base"])
    if doc.get("created_at") is not None:
        values["created_at"] = str(doc["created_at"])
    ids = doc.get("feedback_ids") or []
    if not isinstance(ids, list):
        raise InputError(f"{path}: feedback_ids: expected a list")
    values["feedback_ids"] = tuple(str(i) for i in ids)
    for section, keys in (("policy", POLICY_KEYS), ("generation", GENERATION_KEYS)):
        table = doc.get(section) or {}
        if not isinstance(table, dict):
            raise InputError(f"{path}: {section}: expected a mapping")
        unknown = set(table) - set(keys)
        if unknown:
            raise InputError(f"{path}: {section}: unknown keys {sorted(unknown)}")
        for key in keys:
            if key in table:
                where = f"{path}: {section}.{key}"
                if section == "policy":
                    values[key] = _check_type(table[key], bool, where)
                elif key in ("max_answer_chars", "min_matched", "context_turns"):
                    values[key] = _check_type(table[key], int, where)
                else:
                    values[key] = float(_check_type(table[key], (int, float), where))
    values["backend"] = doc.get("backend", "retrieval")
    if values["backend"] not in BACKENDS:
        raise InputError(f"{path}: backend: expected one of {', '.join(BACKENDS)}, "
                         f"got {values['backend']!r}")
    if values["backend"] == "llm":
        from llmops.chatbot.llm import parse_settings

        values["llm"] = parse_settings(doc.get("llm"), f"{path}: llm", path.parent)
    elif doc.get("llm") is not None:
        raise InputError(f"{path}: llm: settings for a language model need `backend: llm`")
    values.setdefault("latency_ms", 0.0)
    values.setdefault("guard", True)
    if values["latency_ms"] < 0 or values.get("max_answer_chars", 1) < 1:
        raise InputError(f"{path}: generation: latency_ms >= 0 and max_answer_chars >= 1 expected")
    known = {f.name for f in fields(VersionSpec)}
    return VersionSpec(**{k: v for k, v in values.items() if k in known})


@lru_cache(maxsize=64)
def _read_cached(path: str, mtime_ns: int, builtin: bool) -> VersionSpec:
    p = Path(path)
    return parse_version(read_yaml(p), p, builtin=builtin)


def read_version(path: Path, *, builtin: bool = False) -> VersionSpec:
    """The version file at `path` (parsed once; again only if it changes)."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from exc
    return _read_cached(str(path.resolve()), mtime, builtin)


def project_versions_dir(config: Config | None = None) -> Path:
    """Where this project keeps versions built by retrain (`[tool.llmops.chatbot] versions_dir`),
    per `config` (default: the project's, `load_config()`)."""
    if config is None:
        from llmops.config import load_config

        config = load_config()
    return config.resolve(config.chatbot.get("versions_dir") or DEFAULT_VERSIONS_DIR)


def _search_dirs(extra_dirs: Iterable[Path]) -> list[Path]:
    dirs = [Path(d) for d in extra_dirs]
    # A broken pyproject elsewhere must not hide the built-in versions.
    with contextlib.suppress(InputError):
        dirs.append(project_versions_dir())
    unique: list[Path] = []
    for d in dirs:
        if d.resolve() != BUILTIN_DIR.resolve() and d not in unique:
            unique.append(d)
    return unique


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def load_version(name: str, extra_dirs: Iterable[Path] = ()) -> VersionSpec:
    """The version called `name`: built-in, else from `extra_dirs` or the project's versions dir.

    Raises InputError for an unknown name.
    """
    if not isinstance(name, str) or not NAME.match(name):
        raise InputError(f"bad chatbot version name {name!r}")
    builtin = BUILTIN_DIR / f"{name}.yaml"
    if builtin.is_file():
        return read_version(builtin, builtin=True)
    dirs = _search_dirs(extra_dirs)
    for d in dirs:
        candidate = d / f"{name}.yaml"
        if candidate.is_file():
            return read_version(candidate)
    known = ", ".join(v.name for v in list_versions(extra_dirs))
    raise InputError(f"unknown chatbot version {name!r} (known: {known})")


def list_versions(extra_dirs: Iterable[Path] = ()) -> list[VersionSpec]:
    """Built-in versions, then those in `extra_dirs` and the project's versions dir, by name.

    A file that does not parse is skipped here (`load_version` of its name reports why).
    """
    found: dict[str, VersionSpec] = {}
    for path in sorted(BUILTIN_DIR.glob("*.yaml")):
        found[path.stem] = read_version(path, builtin=True)
    for d in _search_dirs(extra_dirs):
        for path in sorted(d.glob("*.yaml")):
            if path.stem in found or path.name.endswith(".kb.yaml") or not NAME.match(path.stem):
                continue
            try:
                found[path.stem] = read_version(path)
            except InputError:
                continue
    return sorted(found.values(), key=lambda v: _natural(v.name))


def _natural(name: str) -> tuple[Any, ...]:
    """v2 before v10."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))
