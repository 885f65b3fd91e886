"""The monitored chatbot: wrap a target, or a plain sync or async function, and every exchange
becomes one event in both logs. Monitoring never changes what the caller gets: the answer (or the
chatbot's own exception) comes back untouched, and a logging failure is reported once, as a
warning, while the chat goes on.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from llmops.errors import InputError
from llmops.monitoring.events import (
    Detector,
    build_event,
    classify_exception,
    new_id,
    prompt_of,
    texts_of,
)
from llmops.monitoring.logfiles import DEFAULT_BACKUPS, DEFAULT_MAX_BYTES, EventLog
from llmops.runner import Exchange, RetryPolicy, ask
from llmops.targets import Message, Target

if TYPE_CHECKING:
    from llmops.config import Config
    from llmops.monitoring.otel import SpanExporter

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_SLOW_MS = 2000.0
DEFAULT_TEXT_CHARS = 2000

_conversation: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "llmops_conversation", default=None
)


@contextlib.contextmanager
def conversation(conversation_id: str | None = None) -> Iterator[str]:
    """Exchanges inside the block share one conversation id (new one unless given).
    Context variables follow asyncio tasks, so concurrent conversations stay apart."""
    cid = conversation_id or new_id()
    token = _conversation.set(cid)
    try:
        yield cid
    finally:
        _conversation.reset(token)


class Monitor:
    """Turns exchanges into events and writes them. Thread-safe and asyncio-safe; `record`
    never raises."""

    def __init__(
        self,
        logs: str | Path = "logs",
        *,
        slow_ms: float = DEFAULT_SLOW_MS,
        detector: Detector | None = None,
        pii_allow: tuple[str, ...] | list[str] = (),
        max_bytes: int = DEFAULT_MAX_BYTES,
        backups: int = DEFAULT_BACKUPS,
        text_chars: int = DEFAULT_TEXT_CHARS,
        exporter: SpanExporter | None = None,
    ) -> None:
        self.log = EventLog(logs, max_bytes=max_bytes, backups=backups)
        #: Sends every event as an OpenTelemetry span too (`otlp_endpoint`), in the background.
        self.exporter = exporter
        self.slow_ms = float(slow_ms)
        self.text_chars = int(text_chars)
        self.detector = detector if detector is not None else _default_detector(pii_allow)
        self.dropped = 0  # events lost to a logging failure
        self._failed = False
        self._failed_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config | None = None, **overrides: Any) -> Monitor:
        """A monitor set up from `[tool.llmops]` (`logs`, `[tool.llmops.monitor]`, PII allow
        list); reads the configuration when none is given."""
        if config is None:
            from llmops.config import load_config

            config = load_config()
        mon = config.monitor
        try:
            settings: dict[str, Any] = {
                "logs": config.logs,
                "slow_ms": float(mon.get("slow_ms", DEFAULT_SLOW_MS)),
                "max_bytes": int(mon.get("log_max_bytes", DEFAULT_MAX_BYTES)),
                "backups": int(mon.get("log_backups", DEFAULT_BACKUPS)),
                "text_chars": int(mon.get("log_text_chars", DEFAULT_TEXT_CHARS)),
            }
        except (TypeError, ValueError) as exc:
            where = f"{config.root / 'pyproject.toml'}: [tool.llmops.monitor]"
            raise InputError(f"{where}: {exc}") from exc
        if "detector" not in overrides:
            settings["detector"] = _config_detector(config)
        if "exporter" not in overrides and mon.get("otlp_endpoint"):
            from llmops.monitoring.otel import from_settings

            where = f"{config.root / 'pyproject.toml'}: [tool.llmops.monitor]"
            settings["exporter"] = from_settings(mon, where, warn=_warn_once)
        settings.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**settings)

    @property
    def directory(self) -> Path:
        return self.log.directory

    def record(
        self,
        *,
        prompt: str,
        response: str | None,
        latency_ms: float | None,
        target: str,
        chatbot_version: str | None = None,
        error_type: str | None = None,
        error: str | None = None,
        conversation_id: str | None = None,
        started_at: float | None = None,
        attempts: int | None = None,
        model: str | None = None,
        response_model: str | None = None,
        usage: Mapping[str, Any] | None = None,
        context: Sequence[str] = (),
    ) -> dict[str, Any] | None:
        """Log one exchange; returns the event, or None when it could not be logged.
        `context`: the texts of the conversation's messages (the prompt among them), so that a
        value the user gave comes out of the reply too, wherever it is echoed."""
        try:
            event = build_event(
                prompt=prompt,
                response=response,
                latency_ms=latency_ms,
                chatbot_version=chatbot_version,
                target=target,
                slow_ms=self.slow_ms,
                detector=self.detector,
                error_type=error_type,
                error=error,
                conversation_id=conversation_id or _conversation.get(),
                started_at=started_at,
                attempts=attempts,
                model=model,
                response_model=response_model,
                usage=usage,
                text_chars=self.text_chars,
                context=context,
            )
        except Exception as exc:  # the chat path must never see a monitoring failure
            self._report_failure(exc)
            return None
        if self.exporter is not None:  # queued, never waited on; never raises
            self.exporter.export(event, started_at)
        try:
            self.log.write(event)
        except Exception as exc:
            self._report_failure(exc)
            return None
        return event

    def _report_failure(self, exc: Exception) -> None:
        with self._failed_lock:
            self.dropped += 1
            if self._failed:
                return
            self._failed = True
        _warn_once(
            f"llmops monitoring: cannot log to {self.directory}: {type(exc).__name__}: {exc}; "
            "the chatbot keeps answering, events are dropped (reported once)"
        )

    def wrap(
        self, chatbot: Target | Callable[..., Any], *, version: str | None = None, **kwargs: Any
    ) -> MonitoredTarget | Callable[..., Any]:
        """Monitor a target (-> MonitoredTarget) or a chatbot function (-> the same kind of
        function, sync or async)."""
        if isinstance(chatbot, Target):
            return MonitoredTarget(chatbot, self, version=version, **kwargs)
        return monitored(chatbot, version=version, monitor=self, **kwargs)

    def close(self) -> None:
        """Close the logs; send the spans still queued (bounded by `otlp_timeout_s`)."""
        try:
            self.log.close()
        finally:
            if self.exporter is not None:
                self.exporter.close()


def _default_detector(allow: tuple[str, ...] | list[str]) -> Detector:
    from llmops.pii import get_detector

    return get_detector(allow=tuple(allow))


def _config_detector(config: Config) -> Detector:
    from llmops.pii import detector_from_config

    return detector_from_config(config)


_warned: set[str] = set()


def _warn_once(message: str, key: str | None = None) -> None:
    key = key or message
    if key in _warned:
        return
    _warned.add(key)
    try:
        warnings.warn(message, RuntimeWarning, stacklevel=4)
    except Exception:  # warnings turned into errors: stderr then, still once
        print(message, file=sys.stderr)


class MonitoredTarget:
    """A target whose every ask is logged. Timeouts, retries and error classification are the
    runner's; the event gets the final outcome (latency of the last attempt, attempts made)."""

    def __init__(
        self,
        target: Target,
        monitor: Monitor,
        *,
        policy: RetryPolicy | None = None,
        version: str | None = None,
    ) -> None:
        self.target = target
        self.monitor = monitor
        self.policy = policy or RetryPolicy()
        self.version = version

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def chatbot_version(self) -> str | None:
        return self.version or self.target.chatbot_version

    async def ask(self, messages: list[Message], *, conversation_id: str | None = None) -> Exchange:
        started = time.time()
        ex = await ask(self.target, messages, self.policy)
        self.monitor.record(
            prompt=prompt_of(messages),
            response=ex.response,
            latency_ms=ex.latency_ms,
            target=self.target.name,
            chatbot_version=self.chatbot_version,  # read after: HTTP targets learn it late
            error_type=ex.error_type,
            error=ex.error,
            conversation_id=conversation_id,
            started_at=started,
            attempts=ex.attempts,
            model=ex.model,
            usage=ex.usage,
            context=texts_of(messages),
        )
        return ex

    async def aclose(self) -> None:
        await self.target.aclose()


_default_monitor: Monitor | None = None
_default_lock = threading.Lock()


def default_monitor() -> Monitor:
    """The process's monitor from the nearest pyproject.toml, built on first use."""
    global _default_monitor
    if _default_monitor is None:
        with _default_lock:
            if _default_monitor is None:
                _default_monitor = Monitor.from_config()
    return _default_monitor


def monitored(
    func: F | None = None,
    *,
    version: str | None = None,
    target: str | None = None,
    monitor: Monitor | None = None,
) -> Any:
    """Log every call of a chatbot function; use as `monitored(fn)`, `@monitored` or
    `@monitored(version="v1")`.

    The function takes the prompt (a string) or the messages (a list of {role, content}) first
    and returns the reply (a string, or None for no reply), sync or async. A `conversation_id`
    keyword argument, when the function takes one, names the conversation; otherwise the
    enclosing `with conversation(...)` block does, else each call is its own.
    """
    if func is None:
        return functools.partial(monitored, version=version, target=target, monitor=monitor)
    name = (
        target or f"python:{getattr(func, '__module__', '?')}:{getattr(func, '__qualname__', '?')}"
    )

    def resolve() -> Monitor:
        return monitor if monitor is not None else default_monitor()

    def log(
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        started: float,
        t0: float,
        result: Any = None,
        exc: BaseException | None = None,
    ) -> None:
        latency = (time.perf_counter() - t0) * 1000
        try:
            messages = args[0] if args else kwargs.get("messages", kwargs.get("prompt"))
            cid = kwargs.get("conversation_id")
            resolve().record(
                prompt=prompt_of(messages),
                response=None if exc is not None else _text_of(result),
                latency_ms=latency,
                target=name,
                chatbot_version=version,
                error_type=None if exc is None else classify_exception(exc),
                error=None if exc is None else f"{type(exc).__name__}: {exc}",
                conversation_id=cid if isinstance(cid, str) else None,
                started_at=started,
                context=texts_of(messages),
            )
        except Exception as err:  # e.g. no usable configuration for the default monitor
            _warn_once(
                f"llmops monitoring is off for {name}: {type(err).__name__}: {err}", key=name
            )

    async def finish(awaitable: Any, args: Any, kwargs: Any, started: float, t0: float) -> Any:
        try:
            result = await awaitable
        except Exception as exc:
            log(args, kwargs, started, t0, exc=exc)
            raise
        log(args, kwargs, started, t0, result=result)
        return result

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started, t0 = time.time(), time.perf_counter()
        try:
            result = func(*args, **kwargs)
        except Exception as exc:
            log(args, kwargs, started, t0, exc=exc)
            raise
        if inspect.isawaitable(result):  # an async function, an async __call__, a partial...
            return finish(result, args, kwargs, started, t0)
        log(args, kwargs, started, t0, result=result)
        return result

    if inspect.iscoroutinefunction(func):  # stay one, for callers that check

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await wrapper(*args, **kwargs)

        return async_wrapper
    return wrapper


def _text_of(result: Any) -> str | None:
    """The reply text of whatever a chatbot function returned."""
    if result is None or isinstance(result, str):
        return result
    for attr in ("text", "content"):
        value = getattr(result, attr, None)
        if isinstance(value, str):
            return value
    if isinstance(result, Mapping):
        for key in ("content", "text", "response"):
            if isinstance(result.get(key), str):
                return result[key]
    return str(result)
