"""Each monitored exchange as an OpenTelemetry span, sent over OTLP/HTTP to a collector or an
observability backend (Arize Phoenix, Langfuse, Jaeger, Grafana Tempo...).

The span carries the GenAI semantic-convention attributes (`gen_ai.operation.name`,
`gen_ai.request.model`, `gen_ai.usage.*`, `gen_ai.conversation.id`, `error.type`) and llmops' own
(`llmops.status`, `llmops.pii_types`, `llmops.prompt_redacted`...), all taken from the event the
logs get: the texts are the redacted ones, never the raw prompt or reply.

The chat path only builds the span and queues it (tens of microseconds); the SDK's
BatchSpanProcessor sends batches from its own thread, and drops spans when its queue is full. A
dead or slow collector therefore costs spans, never an answer, and is reported once as a
warning. Needs the `otel` extra (opentelemetry-sdk, opentelemetry-exporter-otlp-proto-http).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from llmops import scrub
from llmops.errors import InputError

#: The environment variable holding `key=value,key2=value2` headers (OpenTelemetry's own name).
DEFAULT_HEADERS_ENV = "OTEL_EXPORTER_OTLP_HEADERS"
DEFAULT_SERVICE_NAME = "llmops"
DEFAULT_TIMEOUT_S = 5.0
#: Spans waiting to be sent; past that, new spans are dropped (the SDK's default is 2048).
MAX_QUEUE = 4096
TRACES_PATH = "/v1/traces"
INSTRUMENTATION = "llmops.monitoring"

#: Event fields copied to span attributes as they are: (event key, attribute name).
_ATTRIBUTES = (
    ("gen_ai.operation.name", "gen_ai.operation.name"),
    ("gen_ai.request.model", "gen_ai.request.model"),
    ("gen_ai.response.model", "gen_ai.response.model"),
    ("gen_ai.usage.input_tokens", "gen_ai.usage.input_tokens"),
    ("gen_ai.usage.output_tokens", "gen_ai.usage.output_tokens"),
    ("conversation_id", "gen_ai.conversation.id"),
    ("event_id", "llmops.event_id"),
    ("chatbot_version", "llmops.chatbot_version"),
    ("target", "llmops.target"),
    ("status", "llmops.status"),
    ("error_type", "llmops.error_type"),
    ("error", "llmops.error_redacted"),
    ("latency_ms", "llmops.latency_ms"),
    ("slow", "llmops.slow"),
    ("attempts", "llmops.attempts"),
    ("pii_types", "llmops.pii_types"),
    ("pii_response_types", "llmops.pii_response_types"),
    ("prompt_redacted", "llmops.prompt_redacted"),
    ("response_redacted", "llmops.response_redacted"),
    ("prompt_chars", "llmops.prompt_chars"),
    ("response_chars", "llmops.response_chars"),
)


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of `endpoint`: a bare collector address (`http://host:4318`)
    gets `/v1/traces`, as OpenTelemetry's OTEL_EXPORTER_OTLP_ENDPOINT does; a URL with a path
    is used as it is."""
    try:
        parts = urlsplit(endpoint.strip())
    except ValueError as exc:
        raise InputError(f"otlp_endpoint {endpoint!r}: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"otlp_endpoint {endpoint!r}: use an http(s) URL, e.g. http://127.0.0.1:4318"
        )
    if parts.path in ("", "/"):
        parts = parts._replace(path=TRACES_PATH)
    return urlunsplit(parts)


def headers_from_env(name: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Headers from the variable `name`, in OpenTelemetry's `k=v,k2=v2` form (values
    URL-encoded). Their values are registered as secrets: scrubbed from every artifact."""
    from opentelemetry.util.re import parse_env_headers

    value = (os.environ if environ is None else environ).get(name, "")
    headers = parse_env_headers(value, liberal=True) if value else {}
    scrub.register(*headers.values())
    return headers


def attributes_of(event: Mapping[str, Any]) -> dict[str, Any]:
    """Span attributes of an event (None values left out: OTLP has no null)."""
    out: dict[str, Any] = {}
    for key, name in _ATTRIBUTES:
        value = event.get(key)
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = [str(v) for v in value]
        out[name] = value
    if event.get("error_type"):
        out["error.type"] = event["error_type"]  # the general semantic convention
    return out


class SpanExporter:
    """Sends events as spans. `export` never blocks and never raises."""

    def __init__(
        self,
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
        service_name: str = DEFAULT_SERVICE_NAME,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        schedule_delay_ms: int = 500,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.endpoint = traces_url(endpoint)
        self.failures = 0  # batches the collector did not take
        self._warn = warn
        self._warned = False
        self._lock = threading.Lock()
        exporter = self._exporter = _Counting(
            OTLPSpanExporter(
                endpoint=self.endpoint, headers=dict(headers or {}), timeout=timeout_s
            ),
            self._failed,
        )
        # A provider of our own, not the global one: the application may have its own tracing,
        # and shutting ours down (close) must not end theirs.
        self._provider = TracerProvider(
            resource=Resource.create({"service.name": service_name}), shutdown_on_exit=False
        )
        self._processor = BatchSpanProcessor(
            exporter,
            max_queue_size=MAX_QUEUE,
            schedule_delay_millis=schedule_delay_ms,
            export_timeout_millis=int(timeout_s * 1000),
        )
        self._provider.add_span_processor(self._processor)
        self._tracer = self._provider.get_tracer(INSTRUMENTATION)
        self._timeout_s = timeout_s

    def export(self, event: Mapping[str, Any], started_at: float | None = None) -> None:
        """Queue the event as a span that starts at `started_at` (epoch seconds) and lasts its
        latency."""
        from opentelemetry.trace import SpanKind, Status, StatusCode

        try:
            start_ns = int((started_at if started_at is not None else _now()) * 1e9)
            latency = event.get("latency_ms")
            end_ns = start_ns + int((latency or 0.0) * 1e6)
            model = event.get("gen_ai.request.model")
            name = f"chat {model}" if model else "chat"  # "{operation} {model}", as specified
            span = self._tracer.start_span(
                name, kind=SpanKind.CLIENT, attributes=attributes_of(event), start_time=start_ns
            )
            if event.get("status") == "error":
                span.set_status(Status(StatusCode.ERROR, str(event.get("error_type") or "")))
            span.end(end_time=end_ns)
        except Exception as exc:  # never the chat path's problem
            self._failed(f"{type(exc).__name__}: {exc}")

    @property
    def sending(self) -> int:
        """Batches being sent right now (waiting on the collector)."""
        return self._exporter.sending

    def flush(self, timeout_s: float | None = None) -> bool:
        """Send what is queued; True when all of it went out in time."""
        return self._provider.force_flush(int((timeout_s or self._timeout_s) * 1000))

    def close(self) -> None:
        """Send what is queued (bounded by the timeout) and stop the sending thread."""
        try:
            self.flush()
        finally:
            self._provider.shutdown()

    def _failed(self, why: str) -> None:
        with self._lock:
            self.failures += 1
            if self._warned:
                return
            self._warned = True
        if self._warn is not None:
            self._warn(
                f"llmops monitoring: OpenTelemetry export to {self.endpoint} failed ({why}); "
                "the chatbot keeps answering and the logs are complete, spans are dropped "
                "(reported once)"
            )


class _Counting:
    """The OTLP exporter, counting the batches it could not deliver."""

    def __init__(self, inner: Any, on_failure: Callable[[str], None]) -> None:
        self._inner = inner
        self._on_failure = on_failure
        self.sending = 0  # batches on their way now (0 or 1: the SDK sends one at a time)

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        self.sending += 1
        try:
            result = self._inner.export(spans)
        except Exception as exc:  # the SDK catches too; count it here first
            self._on_failure(f"{type(exc).__name__}: {exc}")
            return SpanExportResult.FAILURE
        finally:
            self.sending -= 1
        if result != SpanExportResult.SUCCESS:
            self._on_failure(f"{len(spans)} spans not accepted")
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self._inner.force_flush(timeout_millis))


def _now() -> float:
    import time

    return time.time()


def from_settings(
    monitor: Mapping[str, Any], where: str, warn: Callable[[str], None] | None = None
) -> SpanExporter | None:
    """The exporter `[tool.llmops.monitor]` asks for (`otlp_endpoint`...), or None."""
    endpoint = monitor.get("otlp_endpoint")
    if not endpoint:
        return None
    if not isinstance(endpoint, str):
        raise InputError(f"{where}: otlp_endpoint must be a URL string, not {endpoint!r}")
    headers_env = monitor.get("otlp_headers_env", DEFAULT_HEADERS_ENV)
    service = monitor.get("otlp_service_name", DEFAULT_SERVICE_NAME)
    if not isinstance(headers_env, str) or not isinstance(service, str):
        raise InputError(f"{where}: otlp_headers_env and otlp_service_name are strings")
    try:
        timeout = float(monitor.get("otlp_timeout_s", DEFAULT_TIMEOUT_S))
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: otlp_timeout_s: {exc}") from exc
    if not timeout > 0:
        raise InputError(f"{where}: otlp_timeout_s must be more than 0")
    try:
        import opentelemetry.exporter.otlp.proto.http
        import opentelemetry.sdk  # noqa: F401
    except ImportError as exc:
        raise InputError(
            f"{where}: otlp_endpoint needs OpenTelemetry: pip install 'llmops[otel]' ({exc})"
        ) from exc
    try:
        url = traces_url(endpoint)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from exc
    return SpanExporter(
        url,
        headers=headers_from_env(headers_env),
        service_name=service,
        timeout_s=timeout,
        warn=warn,
    )
