"""Cases: YAML files of prompts and expected behaviour, validated against
`schemas/case.schema.json`, with the safe defaults merged in.

Every problem is reported as `file:line: why` and costs only the case (or, for a file that does not
parse, the file) it is in: the other cases still load.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from llmops import regexes, userschema
from llmops.errors import where
from llmops.limits import Limits, too_deep
from llmops.schemas import fast_validator, load_schema
from llmops.yamlio import first_alias

if TYPE_CHECKING:  # jsonschema loads only for an invalid file or a json_schema expectation
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

try:  # the C loader keeps collection of thousands of cases fast
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]


class Loader(_BaseLoader):
    """PyYAML keeps the last of two equal keys without a word; a PM's second `expect:` would
    silently erase the first. Note every duplicate key as it is constructed."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicate_keys: list[tuple[int, Any]] = []

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # `? [a, b]`: PyYAML refuses it below, with its line
            if key_node.value in seen:
                self.duplicate_keys.append((key_node.start_mark.line + 1, key_node.value))
            seen.add(key_node.value)
        return super().construct_mapping(node, deep)

SEVERITIES = ("critical", "major", "minor")
#: Expectations every case is held to unless it says otherwise (max_latency_ms comes from config).
SAFE_DEFAULTS: dict[str, Any] = {"not_empty": True, "no_pii": True, "no_financial_details": True}
#: Expectation keys that modify other checks instead of being checks themselves.
MODIFIERS = frozenset({"case_sensitive", "allow_pii", "min_similarity"})

Path_ = tuple[Any, ...]


@dataclass(frozen=True)
class CaseError:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{where(self.file, self.line)}: {self.message}"


@dataclass(frozen=True)
class Case:
    id: str
    suite: str
    file: str  # as given to the loader, relative to the project root where possible
    line: int
    messages: tuple[dict[str, str], ...]
    expect: dict[str, Any]
    tags: tuple[str, ...] = ()
    severity: str = "major"
    owner: str | None = None
    description: str | None = None
    skip: str | None = None
    allow_pii: frozenset[str] = field(default_factory=frozenset)
    #: Share of samples each check must pass (None: the config's default, 1.0 unless set).
    min_pass_rate: float | None = None
    #: Generation settings of this case (its file's `defaults:` under its own), sent to
    #: OpenAI-compatible targets over [tool.llmops.generation]; None: the configuration's.
    generation: dict[str, Any] | None = None

    @property
    def prompt(self) -> str:
        """The last user turn: what the chatbot answers."""
        for m in reversed(self.messages):
            if m["role"] == "user":
                return m["content"]
        return self.messages[-1]["content"]

    # cached: each check's record and report columns name it (50,000 strings at 10,000 cases)
    @functools.cached_property
    def location(self) -> str:
        return where(self.file, self.line)

    @functools.cached_property
    def tag_list(self) -> list[str]:
        """The tags as a results record holds them: one list shared by the case's records."""
        return list(self.tags)

    def checks(self) -> list[str]:
        """The expectation keys this case is judged on, in a stable order."""
        return [
            k
            for k, v in self.expect.items()
            if k not in MODIFIERS and v is not None and (v is not False or k == "refuses")
        ]

    def canonical(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "suite": self.suite,
            "messages": list(self.messages),
            "expect": self.expect,
            "severity": self.severity,
            "allow_pii": sorted(self.allow_pii),
        }
        if self.min_pass_rate is not None:  # only when set: older cases keep their digests
            out["min_pass_rate"] = self.min_pass_rate
        if self.generation:  # likewise
            out["generation"] = self.generation
        return out


@dataclass
class LoadResult:
    cases: list[Case] = field(default_factory=list)
    errors: list[CaseError] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    #: What loads and runs but deserves a PM's look (a pattern that backtracks elsewhere).
    warnings: list[CaseError] = field(default_factory=list)

    def errors_by_file(self) -> dict[str, list[CaseError]]:
        out: dict[str, list[CaseError]] = {f: [] for f in self.files}
        for e in self.errors:
            out.setdefault(e.file, []).append(e)
        return out


def find_case_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(q for q in p.rglob("*") if q.suffix in (".yaml", ".yml")))
        else:
            files.append(p)
    return files


def load_cases(
    paths: Iterable[Path],
    *,
    max_latency_ms: float = 3000,
    root: Path | None = None,
    limits: Limits | None = None,
    redact: Callable[[str], str] | None = None,
) -> LoadResult:
    """Load and validate every case file under `paths`; errors are collected, never raised.

    Error and warning messages quote the file (a bad value, a pattern), and a case file may hold
    the very PII or key a case probes: they are redacted with `redact` (default: the PII
    detector and the secrets scrubber) before anyone sees them.
    """
    limits = limits or Limits()
    if redact is None:
        redact = _default_redact
    result = LoadResult()
    seen: dict[str, Case] = {}
    for path in find_case_files(paths):
        name = _display(path, root)
        result.files.append(name)
        for item in _guarded(_load_file(path, name, max_latency_ms, limits), name):
            if isinstance(item, Warning_):
                result.warnings.append(_redacted(item.error, redact))
            elif isinstance(item, CaseError):
                result.errors.append(_redacted(item, redact))
            elif item.id in seen:
                first = seen[item.id]
                why = f"duplicate id {item.id!r} (first at {first.location})"
                result.errors.append(CaseError(name, item.line, why))
            else:
                seen[item.id] = item
                result.cases.append(item)
    return result


def _guarded(items: Iterator[Any], name: str) -> Iterator[Any]:
    """The items of one file; a file that exhausts the stack (whatever bound missed it) is a
    file error, never a crash of the run."""
    try:
        yield from items
    except RecursionError:
        yield CaseError(name, None, "nested too deeply to validate")


def _default_redact(text: str) -> str:
    from llmops import scrub
    from llmops.pii import redact

    return scrub.text(redact(text))


def _redacted(err: CaseError, redact: Callable[[str], str]) -> CaseError:
    message = redact(err.message)
    return err if message == err.message else CaseError(err.file, err.line, message)


@dataclass(frozen=True)
class Warning_:
    """A problem that does not stop the case from loading."""

    error: CaseError


def cases_digest(cases: Iterable[Case]) -> str:
    h = hashlib.sha256()
    for c in sorted(cases, key=lambda c: c.id):
        h.update(json.dumps(c.canonical(), sort_keys=True, default=str).encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- internals


def _display(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return path.as_posix()


@cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema("case"))


def _load_file(
    path: Path, name: str, max_latency_ms: float, limits: Limits
) -> Iterator[Case | CaseError | Warning_]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        yield CaseError(name, None, f"cannot read: {exc}")
        return
    alias = first_alias(text)
    if alias is not None:
        yield CaseError(
            name,
            alias,
            "YAML aliases (*name) are not allowed in case files: a few bytes of them can "
            "expand to gigabytes; write the value out, or share it through `defaults:`",
        )
        return
    try:
        loader = Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
            duplicates = loader.duplicate_keys
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context_mark and (mark is None or "end of stream" in problem):
            # An unclosed quote or bracket: point at where it opened, not at the end of the file.
            mark, problem = context_mark, f"{problem} ({context})"
        line = mark.line + 1 if mark else None
        if isinstance(exc, yaml.reader.ReaderError):  # a control character: no mark, a position
            line = text.count("\n", 0, exc.position) + 1
            problem = f"unacceptable character #x{exc.character:04x}: {exc.reason}"
        yield CaseError(name, line, f"bad YAML: {problem}")
        return
    except RecursionError:  # the pure-Python loader: the C one stops at its own depth limit
        yield CaseError(name, None, "bad YAML: nested too deeply to read")
        return
    if data is None:
        yield CaseError(name, None, "empty file: expected a mapping with `cases:`")
        return
    for line, key in duplicates:
        yield CaseError(name, line, f"duplicate key {key!r}")
    if not isinstance(data, dict):
        yield CaseError(name, 1, f"expected a mapping with `cases:`, got {type(data).__name__}")
        return

    bad_cases: set[int] = set()
    errors: list[CaseError] = []
    file_broken = False
    # The compiled validator answers valid files ~10x faster; only an invalid file pays for
    # jsonschema's full error walk and the line index its messages need.
    file_depth = 8 * limits.max_json_depth
    if too_deep(data, file_depth):
        # A json_schema deeper than the limit costs only its case (see _semantic_errors); a
        # file this deep is no case file, and validating it would exhaust the stack.
        yield CaseError(
            name,
            None,
            f"nested deeper than {file_depth} levels: not a case file "
            "(the bound is 8 x [tool.llmops.limits] max_json_depth)",
        )
        return
    if _fast_valid(data):
        lines = _case_lines(node)
        schema_errors: list[ValidationError] = []
    else:
        lines = _index_lines(node, ())
        schema_errors = list(_validator().iter_errors(data))
    for err in schema_errors:
        path_ = tuple(err.absolute_path)
        if len(path_) >= 2 and path_[0] == "cases" and isinstance(path_[1], int):
            bad_cases.add(path_[1])
            if len(path_) == 2 and err.validator == "oneOf" and not isinstance(err.instance, dict):
                continue  # prompt-or-conversation means nothing here; the type error says it
        else:
            file_broken = True
        errors.append(_schema_error(err, name, lines, data))
    raw_cases = data.get("cases") if isinstance(data.get("cases"), list) else []
    full_index = bool(schema_errors)
    for i, raw in enumerate(raw_cases):
        problems = list(_semantic_errors(raw, name, ("cases", i), lines, limits))
        if problems:
            if not full_index:  # point at the exact line, not just the case's
                lines, full_index = _index_lines(node, ()), True
                problems = list(_semantic_errors(raw, name, ("cases", i), lines, limits))
            bad_cases.add(i)
            errors.extend(problems)
        warnings = list(_pattern_warnings(raw, name, ("cases", i), lines))
        if warnings and not full_index:  # rare: worth the full index for the exact line
            lines, full_index = _index_lines(node, ()), True
            warnings = list(_pattern_warnings(raw, name, ("cases", i), lines))
        yield from map(Warning_, warnings)
    yield from sorted(errors, key=lambda e: e.line or 0)
    if file_broken:
        return

    suite = data.get("suite") or _suite_name(path)
    defaults = data.get("defaults") or {}
    for i, raw in enumerate(raw_cases):
        if i not in bad_cases:
            line = lines.get(("cases", i), 1)
            yield _build_case(raw, defaults, suite, name, line, max_latency_ms)


def _suite_name(path: Path) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", path.stem.lower()).strip("-") or "cases"


def _build_case(
    raw: dict[str, Any],
    defaults: dict[str, Any],
    suite: str,
    file: str,
    line: int,
    max_latency_ms: float,
) -> Case:
    expect: dict[str, Any] = {**SAFE_DEFAULTS, "max_latency_ms": max_latency_ms}
    expect.update(defaults.get("expect") or {})
    expect.update(raw.get("expect") or {})
    allow = {
        *(defaults.get("expect") or {}).get("allow_pii", ()),
        *(raw.get("expect") or {}).get("allow_pii", ()),
        *raw.get("allow_pii", ()),
    }
    expect.pop("allow_pii", None)
    tags = tuple(dict.fromkeys([*defaults.get("tags", ()), *raw.get("tags", ())]))
    if "prompt" in raw:
        messages: tuple[dict[str, str], ...] = ({"role": "user", "content": raw["prompt"]},)
    else:
        messages = tuple({"role": m["role"], "content": m["content"]} for m in raw["conversation"])
    return Case(
        id=raw["id"],
        suite=suite,
        file=file,
        line=line,
        messages=messages,
        expect=expect,
        tags=tags,
        severity=raw.get("severity") or defaults.get("severity") or "major",
        owner=raw.get("owner") or defaults.get("owner"),
        description=raw.get("description"),
        skip=raw.get("skip"),
        allow_pii=frozenset(allow),
        min_pass_rate=_rate(raw.get("min_pass_rate", defaults.get("min_pass_rate"))),
        generation=_generation(defaults.get("generation"), raw.get("generation")),
    )


def _generation(defaults: dict[str, Any] | None, own: dict[str, Any] | None
                ) -> dict[str, Any] | None:
    """A case's generation settings over its file's defaults, key by key (extra_body too)."""
    if not defaults and not own:
        return None
    out = {**(defaults or {}), **(own or {})}
    if defaults and own and "extra_body" in defaults and "extra_body" in own:
        out["extra_body"] = {**defaults["extra_body"], **own["extra_body"]}
    return out


def _rate(value: Any) -> float | None:
    return None if value is None else float(value)


@cache
def _fast_validator() -> Callable[[Any], Any]:
    return fast_validator("case")


def _fast_valid(data: Any) -> bool:
    import fastjsonschema

    try:
        _fast_validator()(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _case_lines(root: Any) -> dict[Path_, int]:
    """The 1-based line of each item of the top-level `cases:` list (all a valid file needs)."""
    lines: dict[Path_, int] = {(): 1}
    for key_node, value_node in root.value:
        if key_node.value == "cases" and isinstance(value_node, yaml.SequenceNode):
            for i, item in enumerate(value_node.value):
                lines[("cases", i)] = item.start_mark.line + 1
    return lines


def _index_lines(node: Any, path: Path_) -> dict[Path_, int]:
    """The 1-based line of every mapping key and sequence item, for pointing at errors.
    (Iterative: the depth of a file is bounded, but the stack is not ours to spend.)"""
    lines: dict[Path_, int] = {}
    stack: list[tuple[Any, Path_]] = [(node, path)]
    while stack:
        item, at = stack.pop()
        lines.setdefault(at, item.start_mark.line + 1)
        if isinstance(item, yaml.MappingNode):
            for key_node, value_node in item.value:
                child = (*at, key_node.value)
                lines[child] = key_node.start_mark.line + 1
                stack.append((value_node, child))
        elif isinstance(item, yaml.SequenceNode):
            stack.extend((v, (*at, i)) for i, v in enumerate(item.value))
    return lines


def _line_for(path: Path_, lines: dict[Path_, int]) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def _case_label(data: Any, path: Path_) -> str:
    """`case 'x': ` for errors inside a case, so a PM sees which one."""
    if len(path) >= 2 and path[0] == "cases":
        try:
            case_id = data["cases"][path[1]].get("id")
        except (AttributeError, IndexError, KeyError, TypeError):
            case_id = None
        return f"case {case_id!r}: " if case_id else f"cases[{path[1]}]: "
    return ""


def _schema_error(
    err: ValidationError, name: str, lines: dict[Path_, int], data: Any
) -> CaseError:
    path = tuple(err.absolute_path)
    label = _case_label(data, path)
    field_name = ".".join(str(p) for p in path[2:] if not isinstance(p, int)) if label else ""
    instance = err.instance
    if err.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = list(err.schema.get("properties", {}))
        extra = [k for k in instance if k not in allowed]
        key = extra[0] if extra else "?"
        hint = difflib.get_close_matches(str(key), allowed, n=1)
        why = f"unknown key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
        if path[-1:] == ("generation",) and "extra_body" in allowed:
            why = (f"unknown key {key!r} (other request fields go under "
                   "generation.extra_body)")
        where_ = f" in {field_name}" if field_name else ""
        return CaseError(name, _line_for((*path, key), lines), f"{label}{why}{where_}")
    # prompt-or-conversation: the only oneOf over a whole case (with or without its id)
    if err.validator == "oneOf" and isinstance(instance, dict) and len(path) == 2:
        has = [k for k in ("prompt", "conversation") if k in instance]
        why = (
            "has both `prompt` and `conversation`; use one"
            if len(has) == 2
            else "missing `prompt` (or `conversation`)"
        )
        return CaseError(name, _line_for(path, lines), f"{label}{why}")
    if err.validator == "not" and path[-2:] == ("generation", "extra_body"):
        why = (f"generation.extra_body may not set {instance!r} (llmops sets it; max_tokens, "
               "temperature, seed and stop go under generation: by their own keys)")
        return CaseError(name, _line_for((*path, instance), lines), f"{label}{why}")
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return CaseError(name, _line_for(path, lines), f"{label}missing required key {missing!r}")
    if err.validator == "pattern" and path[-1:] == ("id",):
        why = f"bad id {instance!r}: use lowercase letters, digits, '.', '_' or '-'"
        return CaseError(name, _line_for(path, lines), f"{label}{why}")
    if err.validator == "oneOf" and err.schema.get("oneOf", [{}])[0].get("type") == "string":
        why = f"{field_name or 'value'} must be a string or a list of strings, got {instance!r}"
        return CaseError(name, _line_for(path, lines), f"{label}{why}")
    msg = err.message if len(err.message) <= 200 else err.message[:200] + "..."
    subject = f"{field_name}: " if field_name else ""
    return CaseError(name, _line_for(path, lines), f"{label}{subject}{msg}")


def _semantic_errors(
    raw: dict[str, Any], name: str, path: Path_, lines: dict[Path_, int], limits: Limits
) -> Iterator[CaseError]:
    """What the schema cannot say: regexes compile, json_schema is a schema, sane bounds.
    Runs on cases the schema rejected too (so every problem shows at once): trusts no type."""
    if not isinstance(raw, dict):
        return
    expect = raw.get("expect") if isinstance(raw.get("expect"), dict) else {}
    label = f"case {raw.get('id')!r}: "
    for key in ("regex", "not_regex"):
        patterns = expect.get(key)
        for pattern in [patterns] if isinstance(patterns, str) else patterns or []:
            if not isinstance(pattern, str):
                continue
            why = regexes.problem(pattern)
            if why:
                yield CaseError(
                    name,
                    _line_for((*path, "expect", key), lines),
                    f"{label}bad {key} {pattern!r}: {why}",
                )
    if isinstance(expect.get("json_schema"), dict):
        where_ = _line_for((*path, "expect", "json_schema"), lines)
        problems = list(userschema.problems(expect["json_schema"], max_depth=limits.max_json_depth))
        for why in problems:
            yield CaseError(name, where_, f"{label}bad json_schema: {why}")
        if not problems:
            from jsonschema import Draft202012Validator
            from jsonschema.exceptions import SchemaError

            try:
                Draft202012Validator.check_schema(expect["json_schema"])
            except SchemaError as exc:
                yield CaseError(name, where_, f"{label}bad json_schema: {exc.message}")
            except RecursionError:  # pragma: no cover - the depth bound comes first
                yield CaseError(name, where_, f"{label}bad json_schema: nested too deeply")
    if "min_similarity" in expect and "similar_to" not in expect:
        yield CaseError(
            name,
            _line_for((*path, "expect", "min_similarity"), lines),
            f"{label}min_similarity without similar_to (it is the threshold of similar_to)",
        )
    lo, hi = expect.get("min_chars"), expect.get("max_chars")
    if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
        yield CaseError(
            name,
            _line_for((*path, "expect", "min_chars"), lines),
            f"{label}min_chars ({lo}) is greater than max_chars ({hi})",
        )
    conversation = raw.get("conversation")
    if isinstance(conversation, list) and not any(
        isinstance(m, dict) and m.get("role") == "user" for m in conversation
    ):
        yield CaseError(
            name, _line_for((*path, "conversation"), lines), f"{label}conversation has no user turn"
        )


def _pattern_warnings(
    raw: Any, name: str, path: Path_, lines: dict[Path_, int]
) -> Iterator[CaseError]:
    """Patterns that run fine here (on RE2) but would backtrack exponentially elsewhere."""
    if not isinstance(raw, dict) or not isinstance(raw.get("expect"), dict):
        return
    expect = raw["expect"]
    found: list[tuple[str, str]] = []
    for key in ("regex", "not_regex"):
        value = expect.get(key)
        for pattern in [value] if isinstance(value, str) else value or []:
            if isinstance(pattern, str):
                found.append((key, pattern))
    if isinstance(expect.get("json_schema"), dict):
        found += [("json_schema", p) for p in userschema.patterns(expect["json_schema"])]
    for key, pattern in found:
        risk = regexes.backtracking_risk(pattern)
        if risk:
            yield CaseError(
                name,
                _line_for((*path, "expect", key), lines),
                f"case {raw.get('id')!r}: {key} {pattern!r} has {risk}: llmops runs it on RE2 "
                "in linear time, but a backtracking engine (Python re, JavaScript, PCRE) would "
                "take exponential time on some answers",
            )
