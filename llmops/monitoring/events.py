"""Monitoring events: one redacted record per chatbot exchange, and its one-line text form.

An event holds what a team acts on (latency, status, error type, slow flag, PII types) and the
exchange's texts only after redaction; the raw prompt and reply never leave this module.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from llmops import scrub
from llmops.targets import ERROR_TYPES, public_target
from llmops.textsafe import one_line

STATUSES = ("ok", "error", "empty")

#: Messages of a conversation whose values are looked for in the reply (the newest ones).
MAX_CONTEXT_MESSAGES = 20

#: Placeholder when redaction itself failed: better no text than raw text.
UNREDACTABLE = "<REDACTION_FAILED>"


class Finding(Protocol):
    type: str
    start: int
    end: int


class Detector(Protocol):
    """What `llmops.pii.Detector` offers and monitoring uses."""

    def scan(self, text: str, *, context: Sequence[str] = ()) -> Sequence[Finding]: ...

    def redact(self, text: str, context: Sequence[str] = ()) -> str: ...


def utc_timestamp(t: float | None = None) -> str:
    """ISO 8601 UTC with milliseconds and a `Z`, e.g. 2025-05-09T10:00:00.123Z."""
    t = time.time() if t is None else t
    ms = int(t * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{ms:03d}Z"


def new_id() -> str:
    """A random 128-bit id in hex (a uuid4's randomness, without building a UUID object)."""
    return os.urandom(16).hex()


def redact_with(
    detector: Detector | None, text: str, context: Sequence[str] = ()
) -> tuple[str, list[str]]:
    """(redacted text, entity types found). The detector's own `redact` does the replacing
    (it also catches repeats of a found value); its scan cache makes that no second pass.
    `context`: the conversation's other texts; a value found there is redacted here too, even
    where nothing in this text marks it ("12345678 is a nice number" after "my account number
    is 12345678")."""
    if detector is None or not text:
        return text, []
    if context:
        findings = detector.scan(text, context=context)
        if not findings:
            return text, []
        return detector.redact(text, context=context), [f.type for f in findings]
    findings = detector.scan(text)
    if not findings:
        return text, []
    return detector.redact(text), [f.type for f in findings]


def texts_of(messages: Sequence[Mapping[str, Any]] | str | None) -> list[str]:
    """The text of every message of a conversation (a string is a conversation of one)."""
    if messages is None:
        return []
    if isinstance(messages, str):
        return [messages]
    if not isinstance(messages, (list, tuple)):
        return []
    return [
        m["content"]
        for m in messages
        if isinstance(m, Mapping) and isinstance(m.get("content"), str) and m["content"]
    ]


def clip(text: str, limit: int) -> str:
    """Cut a (redacted) text to `limit` characters, saying how much was left out."""
    if limit <= 0 or len(text) <= limit:
        return text
    return f"{text[:limit]}… [+{len(text) - limit} chars]"


def prompt_of(messages: Sequence[Mapping[str, Any]] | str | None) -> str:
    """The text a user sent: a string as is, else the last user message of a conversation."""
    if messages is None:
        return ""
    if isinstance(messages, str):
        return messages
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role", "user") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else ""
    return ""


def status_of(response: str | None, error_type: str | None) -> str:
    if error_type is not None:
        return "error"
    return "empty" if response is None or not response.strip() else "ok"


def build_event(
    *,
    prompt: str,
    response: str | None,
    latency_ms: float | None,
    chatbot_version: str | None,
    target: str,
    slow_ms: float,
    detector: Detector | None,
    error_type: str | None = None,
    error: str | None = None,
    conversation_id: str | None = None,
    started_at: float | None = None,
    attempts: int | None = None,
    model: str | None = None,
    response_model: str | None = None,
    usage: Mapping[str, Any] | None = None,
    text_chars: int = 2000,
    context: Sequence[str] = (),
) -> dict[str, Any]:
    """One event, ready to write. Texts are scanned whole (so a cut never splits a PII value
    and leaves half of it readable), then redacted, then cut. `context`: the texts of the
    conversation so far (the messages sent); a value found in any of them is redacted wherever
    it comes back, in the reply or the error."""
    if error_type is not None and error_type not in ERROR_TYPES:
        error_type = "bad_response"
    # Bounded: the newest messages, which is where an echoed value comes from.
    history = [t for t in context[-MAX_CONTEXT_MESSAGES:] if t and t != prompt]
    try:
        prompt_red, prompt_types = redact_with(detector, prompt, history)
        whole = [prompt, *history] if prompt else history
        if response is None:
            response_red, response_types = None, []
        else:
            response_red, response_types = redact_with(detector, response, whole)
        error_red = redact_with(detector, error, whole)[0][:300] if error else None
    except Exception:  # a failing detector must cost the texts, never leak them
        prompt_red, response_red, error_red = UNREDACTABLE, UNREDACTABLE, None
        prompt_types, response_types = [], []
    latency = None if latency_ms is None else round(max(0.0, latency_ms), 3)

    def label(value: str | None) -> str | None:
        """A caller's identifier (a conversation id may be an e-mail, a target may carry a
        key): redacted like the texts; a failing detector costs the value, never leaks it."""
        if not value:
            return value
        try:
            return redact_with(detector, value)[0]
        except Exception:
            return UNREDACTABLE

    event: dict[str, Any] = {
        "timestamp": utc_timestamp(started_at),
        "event_id": new_id(),
        "conversation_id": label(conversation_id) or new_id(),
        "chatbot_version": label(chatbot_version) or "unknown",
        # No credentials (user:KEY@, ?key=...); an IP address as host is no one's PII.
        "target": public_target(target) if target else "unknown",
        "latency_ms": latency,
        "status": status_of(response, error_type),
        "error_type": error_type,
        "slow": latency is not None and latency >= slow_ms,
        "pii_types": sorted({*prompt_types, *response_types}),
        "pii_response_types": sorted(set(response_types)),
        "prompt_redacted": clip(prompt_red, text_chars),
        "response_redacted": None if response_red is None else clip(response_red, text_chars),
        "prompt_chars": len(prompt),
        "response_chars": None if response is None else len(response),
    }
    if error_type is not None:
        event["error"] = error_red
    if attempts is not None:
        event["attempts"] = attempts
    _add_gen_ai(event, label(model), label(response_model), usage)
    # The configured secrets, by value, out of every field (an echoed key has no PII shape).
    return scrub.deep(event)


def _add_gen_ai(
    event: dict[str, Any],
    model: str | None,
    response_model: str | None,
    usage: Mapping[str, Any] | None,
) -> None:
    """OpenTelemetry GenAI semantic-convention attributes, when known."""
    event["gen_ai.operation.name"] = "chat"
    if model:
        event["gen_ai.request.model"] = model
    if response_model:
        event["gen_ai.response.model"] = response_model
    if usage:
        # OpenAI says prompt/completion_tokens, Anthropic and OTel say input/output_tokens.
        for otel, keys in (
            ("gen_ai.usage.input_tokens", ("input_tokens", "prompt_tokens")),
            ("gen_ai.usage.output_tokens", ("output_tokens", "completion_tokens")),
        ):
            for key in keys:
                value = usage.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                    event[otel] = value
                    break


def to_json_line(event: Mapping[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"


def to_text_line(event: Mapping[str, Any], excerpt: int = 160) -> str:
    """The readable form: fixed columns first, then key=value; texts JSON-quoted so that a
    newline inside a message never splits an event over two lines."""
    latency = event.get("latency_ms")
    parts = [
        event["timestamp"],
        f"{event['status'].upper():<5}",
        f"{latency:>9.1f}ms" if isinstance(latency, (int, float)) else "        -ms",
        # Labels a caller sets: one line, no control characters (someone will `cat` this log).
        f"version={one_line(event['chatbot_version'])}",
        f"target={one_line(event['target'])}",
        f"conversation={one_line(event['conversation_id'])}",
        f"event={one_line(event['event_id'])}",
    ]
    if event.get("error_type"):
        parts.append(f"error={one_line(event['error_type'])}")
    if event.get("slow"):
        parts.append("slow")
    if event.get("pii_types"):
        parts.append("pii=" + one_line(",".join(event["pii_types"])))
    for key, label in (("prompt_redacted", "prompt"), ("response_redacted", "response")):
        text = event.get(key)
        if text is not None:
            if len(text) > excerpt:
                text = text[:excerpt] + "…"
            parts.append(f"{label}={json.dumps(text, ensure_ascii=False)}")
    if event.get("error"):
        parts.append(f"detail={json.dumps(event['error'][:excerpt], ensure_ascii=False)}")
    return " ".join(parts) + "\n"


def classify_exception(exc: BaseException) -> str:
    """The error type of an exception raised by a user's chatbot function.

    TargetError knows its type; otherwise HTTP status codes (httpx, openai, requests all expose
    one) and exception names decide, so common client libraries classify without importing them.
    """
    error_type = getattr(exc, "error_type", None)
    if isinstance(error_type, str) and error_type in ERROR_TYPES:
        return error_type
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        if status == 429:
            return "rate_limited"
        if status >= 500:
            return "http_5xx"
        if status >= 400:
            return "http_4xx"
    names = " ".join(cls.__name__ for cls in type(exc).__mro__)
    if isinstance(exc, TimeoutError) or "Timeout" in names:
        return "timeout"
    if "RateLimit" in names:
        return "rate_limited"
    if isinstance(exc, ConnectionError) or "Connect" in names:
        return "connection"
    return "bad_response"
