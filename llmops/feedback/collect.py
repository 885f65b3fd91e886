"""Interactive feedback: show an exchange, ask for a rating, a category, a comment and optionally
the expected answer, and save the record as soon as it is complete (Ctrl-C loses nothing saved).

The exchange comes from the person (typed in), from the chatbot (asked on the spot), from a
monitoring log event or from an eval result. Answers come from the terminal, or from a file of
answers (JSON or YAML: one object, or a list of objects, one record each) where there is none.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from llmops.errors import InputError
from llmops.feedback.ingest import read_results_file
from llmops.feedback.records import (
    CATEGORIES,
    Redact,
    category_for_check,
    errors,
    is_negative,
    normalise,
    parse_rating,
    utc_now,
)
from llmops.feedback.store import FeedbackStore

#: Keys an answers file may hold (per record).
ANSWER_KEYS = frozenset(
    {"prompt", "response", "rating", "category", "comment", "expected", "event", "case"}
)


@dataclass
class Exchange:
    """What is being rated, with what we know about it."""

    prompt: str
    response: str | None
    chatbot_version: str | None = None
    suggested_category: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # case_id, event_id, latency_ms...


class Answers(Protocol):
    interactive: bool
    where: str

    def ask(self, key: str, question: str, default: str = "") -> Any: ...

    def say(self, text: str = "") -> None: ...


class TerminalAnswers:
    interactive = True
    where = "terminal"

    def __init__(self, out: TextIO, read: Callable[[str], str] = input) -> None:
        self._out, self._read = out, read

    def ask(self, key: str, question: str, default: str = "") -> str:
        hint = f" [{default}]" if default else ""
        self._out.flush()
        text = self._read(f"{question}{hint}: ").strip()
        return text or default

    def say(self, text: str = "") -> None:
        print(text, file=self._out)


class FileAnswers:
    interactive = False

    def __init__(self, entry: Mapping[str, Any], where: str, out: TextIO) -> None:
        self._entry, self.where, self._out = entry, where, out

    def ask(self, key: str, question: str, default: str = "") -> Any:
        value = self._entry.get(key)
        return default if value is None else value

    def say(self, text: str = "") -> None:
        print(text, file=self._out)


def load_answers(path: Path) -> list[dict[str, Any]]:
    """The answers file: one object, or a list of objects (one record each)."""
    from llmops.yamlio import read_yaml

    data = read_yaml(path)  # YAML reads JSON too
    entries = data if isinstance(data, list) else [data]
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise InputError(f"{path}: answer {n}: expected an object of answers")
        unknown = sorted(set(entry) - ANSWER_KEYS)
        if unknown:
            raise InputError(
                f"{path}: answer {n}: unknown key {', '.join(unknown)} "
                f"(use {', '.join(sorted(ANSWER_KEYS))})"
            )
    return entries


# --- where the exchange comes from ----------------------------------------------------------


def typed_exchange(answers: Answers) -> Exchange:
    prompt = ""
    while not prompt:
        prompt = str(answers.ask("prompt", "Prompt (what the user asked)") or "").strip()
        if not prompt and not answers.interactive:
            raise InputError(f"{answers.where}: prompt: required (no exchange source given)")
    response = str(answers.ask("response", "Response (what the chatbot answered)") or "")
    return Exchange(prompt=prompt, response=response)


def asked_exchange(question: str, target_spec: str, config: Any) -> Exchange:
    """Ask the chatbot `question` now, as an eval run asks it (configuration: model, retries,
    timeout, generation settings, answer size limit)."""
    import asyncio

    from llmops import runner
    from llmops.targets import make_target

    async def go() -> tuple[runner.Exchange, str | None]:
        target = make_target(
            target_spec, model=config.model, api_key=config.api_key, root=config.root,
            limits=config.limits, generation=config.generation,
        )
        try:
            policy = runner.RetryPolicy(retries=config.retries, timeout_s=config.timeout_s)
            ex = await runner.ask(target, [{"role": "user", "content": question}], policy)
            return ex, target.chatbot_version or ex.model
        finally:
            await target.aclose()

    ex, version = asyncio.run(go())
    if not ex.ok:
        suggested = "too_slow" if ex.error_type == "timeout" else "other"
        response = f"[no answer: {ex.error_type}: {ex.error}]"
    else:
        response = ex.response or ""
        suggested = "empty" if not response.strip() else None
    return Exchange(
        prompt=question,
        response=response,
        chatbot_version=version,
        suggested_category=suggested,
        fields={"latency_ms": round(ex.latency_ms, 1) if ex.latency_ms is not None else None},
    )


def read_events(path: Path) -> list[dict[str, Any]]:
    """The events of a monitoring JSONL log (lines that do not parse are skipped)."""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    events = []
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and "prompt_redacted" in event:
            events.append(event)
    return events


def log_exchange(
    path: Path, answers: Answers, *, event_id: str | None = None, last: bool = False
) -> Exchange:
    events = read_events(path)
    if not events:
        raise InputError(f"{path}: no monitoring events in it")
    if not event_id and not answers.interactive:  # an answers file may name the event
        event_id = str(answers.ask("event", "Event")) or None
    if event_id:
        found = [e for e in events if str(e.get("event_id")) == event_id]
        if not found:
            raise InputError(f"{path}: no event with event_id {event_id}")
        event = found[-1]
    elif last or not answers.interactive:
        event = events[-1]
    else:
        event = _pick_event(events, answers)
    status = event.get("status")
    suggested = (
        "pii_leak"
        if event.get("pii_types")
        else "empty"
        if status == "empty"
        else "too_slow"
        if event.get("slow") or event.get("error_type") == "timeout"
        else "other"
        if status == "error"
        else None
    )
    return Exchange(
        prompt=str(event.get("prompt_redacted") or ""),
        response=event.get("response_redacted"),
        chatbot_version=event.get("chatbot_version"),
        suggested_category=suggested,
        fields={
            "event_id": _str_or_none(event.get("event_id")),
            "conversation_id": _str_or_none(event.get("conversation_id")),
            "latency_ms": event.get("latency_ms"),
        },
    )


def _pick_event(events: list[dict[str, Any]], answers: Answers) -> dict[str, Any]:
    recent = events[-10:][::-1]
    answers.say("Recent events (newest first):")
    for n, e in enumerate(recent, 1):
        answers.say(
            f"  {n:>2}. {e.get('timestamp', '')[:19]} {e.get('chatbot_version') or ''} "
            f"{e.get('status', '')}  {_excerpt(e.get('prompt_redacted'))!r} -> "
            f"{_excerpt(e.get('response_redacted'))!r}"
        )
    while True:
        choice = str(answers.ask("event", "Event (number or event_id)", "1")).strip()
        if choice.isdigit() and 1 <= int(choice) <= len(recent):
            return recent[int(choice) - 1]
        found = [e for e in events if str(e.get("event_id")) == choice]
        if found:
            return found[-1]
        answers.say(f"  no event {choice!r}: type a number from 1 to {len(recent)} or an id")


def results_exchange(path: Path, case_id: str) -> Exchange:
    """The exchange of case `case_id` in a results file, its first failed check suggesting the
    category."""
    data = read_results_file(path)
    rows = [r for r in data["results"] if r.get("case_id") == case_id]
    if not rows:
        raise InputError(f"{path}: no results for case {case_id}")
    failed = [r for r in rows if r.get("outcome") in ("failed", "error")]
    row = (failed or rows)[0]
    suggested = (
        category_for_check(str(row.get("check")), row.get("message") or "", row.get("error_type"))
        if failed
        else None
    )
    run = data.get("run") or {}
    return Exchange(
        prompt=str(row.get("prompt") or ""),
        response=row.get("response_excerpt"),
        chatbot_version=run.get("chatbot_version"),
        suggested_category=suggested,
        fields={
            "case_id": case_id,
            "suite": row.get("suite"),
            "check": row.get("check") if failed else None,
            "commit": run.get("git_commit"),
            "latency_ms": row.get("latency_ms"),
        },
    )


# --- the questions --------------------------------------------------------------------------


def rate(
    exchange: Exchange,
    answers: Answers,
    *,
    source: str,
    redact: Redact,
    chatbot_version: str | None = None,
) -> dict[str, Any]:
    """Show the exchange, ask the questions; the record, normalised and redacted."""
    answers.say()
    answers.say(f"Prompt:   {exchange.prompt}")
    answers.say(f"Response: {exchange.response if exchange.response is not None else '(none)'}")
    answers.say()
    rating = _ask_parsed(answers, "rating", "Rating: up/down or 1-5", _parse_rating)
    default = exchange.suggested_category or ("other" if is_negative(rating) else "none")
    if answers.interactive:
        answers.say("Categories: " + ", ".join(f"{n}) {c}" for n, c in enumerate(CATEGORIES, 1)))
    category = _ask_parsed(
        answers, "category", "Category (number or name)", _parse_category, default
    )
    comment = str(answers.ask("comment", "Comment (optional)") or "").strip()
    expected = str(answers.ask("expected", "Expected answer (optional)") or "").strip()
    raw: dict[str, Any] = {
        "timestamp": utc_now(),  # part of the id: every rating is its own record
        "source": source,
        **{k: v for k, v in exchange.fields.items() if v is not None},
        "prompt": exchange.prompt,
        "response": exchange.response,
        "rating": rating,
        "category": category,
        "comment": comment or None,
        "expected": expected or None,
        "chatbot_version": chatbot_version or exchange.chatbot_version,
        "status": "new",
    }
    raw = {k: v for k, v in raw.items() if v is not None}
    why = errors(raw)
    if why:
        raise InputError(f"{answers.where}: {'; '.join(why)}")
    return normalise(raw, redact=redact)


def _ask_parsed(
    answers: Answers, key: str, question: str, parse: Callable[[Any], Any], default: str = ""
) -> Any:
    while True:
        raw = answers.ask(key, question, default)
        try:
            return parse(raw)
        except ValueError as exc:
            if not answers.interactive:
                raise InputError(f"{answers.where}: {key}: {exc}") from exc
            answers.say(f"  {exc}")


def _parse_rating(raw: Any) -> str | int:
    if isinstance(raw, int) and not isinstance(raw, bool) and 1 <= raw <= 5:
        return raw
    rating = parse_rating(str(raw if raw is not None else ""))
    if rating is None:
        raise ValueError(f"rating must be up, down or 1..5, not {raw!r}")
    return rating


def _parse_category(raw: Any) -> str | None:
    text = str(raw if raw is not None else "").strip().lower().replace("-", "_").replace(" ", "_")
    if text in ("none", "null", ""):
        return None
    if text.isdigit() and 1 <= int(text) <= len(CATEGORIES):
        return CATEGORIES[int(text) - 1]
    if text in CATEGORIES:
        return text
    raise ValueError(
        f"category must be a number 1-{len(CATEGORIES)} or one of {', '.join(CATEGORIES)}"
    )


def save(store: FeedbackStore, record: dict[str, Any]) -> bool:
    return bool(store.append([record]).added)


def session(
    make_exchange: Callable[[Answers], Exchange],
    answer_sources: Iterator[Answers],
    store: FeedbackStore,
    *,
    source: str,
    redact: Redact,
    chatbot_version: str | None = None,
    again: Callable[[Answers], bool] = lambda a: False,
    saved: list[str] | None = None,
) -> list[str]:
    """Rate exchanges one after another, saving each record when it is complete; the ids
    saved (also appended to `saved` as they are, so an interrupted caller knows). Stops when
    the answers run out or `again` says no."""
    saved = [] if saved is None else saved
    for answers in answer_sources:
        while True:
            exchange = make_exchange(answers)
            record = rate(
                exchange, answers, source=source, redact=redact, chatbot_version=chatbot_version
            )
            if save(store, record):
                saved.append(record["id"])
                answers.say(f"saved {record['id']} to {store.path}")
            else:
                answers.say(f"already stored: {record['id']}")
            if not again(answers):
                break
    return saved


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _excerpt(text: Any, n: int = 40) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= n else s[: n - 1] + "…"
