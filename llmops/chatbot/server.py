"""The reference chatbot as an OpenAI-compatible HTTP service, with latency and fault injection.

Endpoints: `POST /v1/chat/completions` (non-streaming, and `stream: true` as server-sent events
ending with `data: [DONE]`, both with `usage` token counts), `GET /v1/models`, `GET /healthz`.

A `backend: llm` version generates on its engine's worker thread, so the event loop stays free
for other requests; streamed, every piece goes out as the model writes it (a guarded version
releases redacted sentences, see `llm.StreamGuard`), `usage` holds the model's token counts,
`finish_reason` is "length" when the answer hit `max_tokens`, and a client that disconnects
mid-stream stops the generation at the next token.

For tests and benchmarks every chat completion can be delayed (`latency_ms` ± `jitter_ms`, a
non-blocking sleep) and, with probability `fault_rate` (a seeded RNG, so a run can be replayed),
fail in one of these ways:

- `500`: HTTP 500 with an OpenAI-style error body;
- `429`: HTTP 429 with `Retry-After: <retry_after_s>`;
- `timeout`: no answer at all: the request hangs until the client gives up (or `hang_s`);
- `empty`: HTTP 200 with an empty `content`;
- `garbage`: HTTP 200 whose body is not JSON;
- `drop`: the connection is closed without a response.

`fault` may name several kinds ("500,429"): each faulty request draws one. With
`fault_markers=True`, a user message holding `[[fault:KIND]]` triggers that fault every time,
so one server can serve a whole suite of failure cases.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from llmops.chatbot.bot import Chatbot, message_text
from llmops.chatbot.text import count_tokens
from llmops.chatbot.versions import VersionSpec
from llmops.errors import InputError

FAULTS = ("500", "429", "timeout", "empty", "garbage", "drop")
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_MARKER = re.compile(r"\[\[fault:([a-z0-9]+)\]\]")
MAX_BODY_BYTES = 1_000_000


class DropConnection(Exception):
    """Raised after a response was started but before a byte of it went out: the server
    closes the socket, and the client sees a connection closed without a response."""


class _DropFilter(logging.Filter):
    """Keep the deliberate drops out of the server's error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DropConnection)


logging.getLogger("uvicorn.error").addFilter(_DropFilter())


class _DropResponse(Response):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # ASGI servers close the connection when the app fails after starting a response.
        # A header value with a line break is refused by the server before anything is written
        # (h11 and httptools both check), so the client receives nothing at all.
        with contextlib.suppress(Exception):
            await send({
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"x-llmops-fault", b"drop\r\n")],
            })
        raise DropConnection("fault injected: connection dropped")


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.param = param
        self.status = status


async def _read_body(request: Request) -> bytes:
    """The request body, refused (413) past MAX_BODY_BYTES instead of held in memory."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise BadRequest(f"the request body exceeds {MAX_BODY_BYTES} bytes", status=413)
    return bytes(body)


def _error(status: int, message: str, kind: str, *, param: str | None = None,
           code: str | None = None, headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def parse_chat_request(body: Any) -> tuple[list[dict[str, str]], bool, str | None]:
    """(messages, stream, model) of a chat completions body, or BadRequest saying what is wrong."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array", "messages")
    clean: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise BadRequest(f"{where} must be an object with 'role' and 'content'", where)
        role = message.get("role")
        if role not in ROLES:
            raise BadRequest(f"{where}.role must be one of {sorted(ROLES)}", f"{where}.role")
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise BadRequest(f"{where}.content must be a string or an array of parts",
                             f"{where}.content")
        clean.append({"role": role, "content": message_text(content)})
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("'stream' must be a boolean", "stream")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise BadRequest("'model' must be a string", "model")
    return clean, stream, model


def parse_generation(body: dict[str, Any]) -> dict[str, Any]:
    """The generation parameters of a chat completions body the server honours: `max_tokens`
    (or `max_completion_tokens`), `temperature`, `top_p`, `seed`, `stop`. BadRequest (400, the
    parameter named) for a value the OpenAI API would refuse."""
    out: dict[str, Any] = {}
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadRequest(f"'{key}' must be an integer >= 1, got {value!r}", key)
        out["max_tokens"] = value
    for key, top in (("temperature", 2.0), ("top_p", 1.0)):
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= top:
            raise BadRequest(f"'{key}' must be a number from 0 to {top:g}, got {value!r}", key)
        out[key] = float(value)
    seed = body.get("seed")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise BadRequest(f"'seed' must be an integer, got {seed!r}", "seed")
        out["seed"] = seed
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or len(stops) > 4 or not all(
                isinstance(x, str) for x in stops):
            raise BadRequest("'stop' must be a string or an array of up to 4 strings", "stop")
        out["stop"] = [x for x in stops if x]
    return out


_PIECE = re.compile(r"\s*(?:\w+|[^\w\s])")


def limit_answer(answer: str, gen: Mapping[str, Any]) -> tuple[str, str]:
    """(answer, finish_reason) of the retrieval bot under `stop` and `max_tokens`: cut at the
    first stop sequence ("stop"), then to `max_tokens` tokens as `usage` counts them ("length")."""
    for seq in gen.get("stop") or ():
        at = answer.find(seq)
        if at >= 0:
            answer = answer[:at]
    limit = gen.get("max_tokens")
    if limit is not None and count_tokens(answer) > limit:
        pieces = _PIECE.findall(answer)
        return "".join(pieces[:limit]), "length"
    return answer, "stop"


@dataclass
class _Settings:
    latency_ms: float
    jitter_ms: float
    faults: tuple[str, ...]
    fault_rate: float
    retry_after_s: int
    hang_s: float
    fault_markers: bool


def _parse_faults(fault: str | None) -> tuple[str, ...]:
    if not fault:
        return ()
    kinds = tuple(k.strip() for k in str(fault).split(",") if k.strip())
    bad = [k for k in kinds if k not in FAULTS]
    if bad:
        raise InputError(f"unknown fault kind {bad[0]!r}: use one of {', '.join(FAULTS)}")
    return kinds


async def _hang(request: Request, seconds: float) -> bool:
    """Wait until the client disconnects (or `seconds` pass) without answering; True when the
    client disconnected."""

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(disconnected(), seconds)
    except asyncio.TimeoutError:  # not the builtin one before Python 3.11
        return False
    return True


def create_app(
    version: str | VersionSpec = "v1",
    *,
    latency_ms: float = 0.0,
    jitter_ms: float = 0.0,
    fault: str | None = None,
    fault_rate: float = 0.0,
    seed: int | None = None,
    retry_after_s: int = 1,
    hang_s: float = 3600.0,
    fault_markers: bool = False,
    slots: int | None = None,
    capacity: int | None = None,
    capacity_status: int = 503,
) -> Starlette:
    """The ASGI app serving `version` of the reference chatbot.

    `app.state.counts` counts chat completions by outcome ("ok", "400", and each fault kind),
    "disconnected" (a hanging request whose client went away) and "overloaded" (refused over
    `capacity`); `app.state.load` holds the most completions ever in flight at once ("peak"):
    tests use them to see what a client did.

    Load, as a model server has it: `slots` answers that many completions at once and queues the
    rest (llama.cpp's server has one slot: a queued request waits for the ones before it, which
    its latency shows); beyond `capacity` completions in flight, it refuses with
    `capacity_status` (503, or 429) and `Retry-After: <retry_after_s>`.
    """
    if not 0.0 <= fault_rate <= 1.0:
        raise InputError(f"fault rate must be between 0 and 1, got {fault_rate}")
    if latency_ms < 0 or jitter_ms < 0:
        raise InputError("latency and jitter must be >= 0")
    if int(retry_after_s) < 0:
        raise InputError("retry_after_s must be >= 0")
    faults = _parse_faults(fault)
    if fault_rate > 0 and not faults:
        raise InputError("a fault rate needs a fault kind (--fault KIND)")
    if (slots is not None and slots < 1) or (capacity is not None and capacity < 1):
        raise InputError("slots and capacity must be at least 1")
    if capacity_status not in (429, 503):
        raise InputError("capacity_status must be 429 or 503")
    slot = asyncio.Semaphore(slots) if slots else None
    load = {"in_flight": 0, "peak": 0}
    bot = Chatbot(version)
    settings = _Settings(latency_ms, jitter_ms, faults, fault_rate, int(retry_after_s), hang_s,
                         fault_markers)
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    model_id = bot.version.name
    created = int(time.time())

    def choose_fault(messages: list[dict[str, str]]) -> str | None:
        if settings.fault_markers:
            for message in reversed(messages):
                if message["role"] == "user":
                    marker = _MARKER.search(message["content"])
                    if marker and marker.group(1) in FAULTS:
                        return marker.group(1)
                    break
        if settings.faults and rng.random() < settings.fault_rate:
            return settings.faults[0] if len(settings.faults) == 1 else rng.choice(settings.faults)
        return None

    def delay_s() -> float:
        jitter = rng.uniform(-settings.jitter_ms, settings.jitter_ms) if settings.jitter_ms else 0
        return max(0.0, settings.latency_ms + jitter) / 1000

    async def chat_completions(request: Request) -> Response:
        try:
            raw = await _read_body(request)
            try:
                body = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise BadRequest(f"the request body is not valid JSON: {exc}") from exc
            messages, stream, model = parse_chat_request(body)
            gen = parse_generation(body)
        except BadRequest as exc:
            counts[str(exc.status)] += 1
            return _error(exc.status, str(exc), "invalid_request_error", param=exc.param)
        if model is not None and model != model_id:
            counts["404"] += 1
            return _error(404, f"The model `{model}` does not exist or you do not have access "
                          f"to it (this server serves `{model_id}`).", "invalid_request_error",
                          param="model", code="model_not_found")
        if capacity is not None and load["in_flight"] >= capacity:
            counts["overloaded"] += 1
            return _error(capacity_status, "over capacity: too many requests in flight, retry "
                          "later", "server_error" if capacity_status == 503 else
                          "rate_limit_error", code="overloaded",
                          headers={"Retry-After": str(settings.retry_after_s)})
        kind = choose_fault(messages)
        counts[kind or "ok"] += 1
        if kind == "timeout":
            try:
                if await _hang(request, settings.hang_s):
                    counts["disconnected"] += 1
            except asyncio.CancelledError:
                # The server is stopping and gave up waiting for this request: close the
                # connection, as a hung server going away does, instead of answering.
                return _DropResponse()
            return _error(504, "fault injected: timed out", "server_error", code="timeout")
        load["in_flight"] += 1
        load["peak"] = max(load["peak"], load["in_flight"])
        try:
            async with slot or contextlib.nullcontext():
                delay = delay_s()
                if delay:
                    await asyncio.sleep(delay)
        finally:
            load["in_flight"] -= 1
        if kind == "drop":
            return _DropResponse()
        if kind == "500":
            return _error(500, "fault injected: internal server error", "server_error",
                          code="internal_error")
        if kind == "429":
            return _error(429, "fault injected: rate limit reached, retry later",
                          "rate_limit_error", code="rate_limit_exceeded",
                          headers={"Retry-After": str(settings.retry_after_s)})
        if kind == "garbage":
            if stream:
                return Response(b'data: {"id": "chatcmpl-x", "choices": [{"delta": <html>\n\n',
                                media_type="text/event-stream")
            return Response(b'{"id": "chatcmpl-x", "choices": [{"message": <html>oops',
                            media_type="application/json")
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        name = model or model_id
        if bot.llm is not None and kind != "empty":
            # A language model: generated on the engine's worker thread, off the loop, its
            # usage and finish reason known once it is done.
            from llmops.chatbot.llm import Generation

            done: list[Generation] = []

            def outcome() -> tuple[str, dict[str, int]]:
                gen = done[0] if done else Generation()
                return ("length" if gen.finish_reason == "length" else "stop"), gen.usage

            params = _llm_params(bot.llm.params, gen)
            if stream:
                return _stream(completion_id, name,
                               bot.llm.astream(messages, on_done=done.append, params=params),
                               outcome)
            answer = await bot.llm.areply(messages, on_done=done.append, params=params)
            finish, usage = outcome()
        else:
            answer, finish = limit_answer("" if kind == "empty" else bot.reply(messages), gen)
            usage = _count_usage(messages, answer)
            if stream:
                return _stream(completion_id, name, _words(answer), lambda: (finish, usage))
        return JSONResponse({
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": name,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": finish,
            }],
            "usage": usage,
        })

    async def models(request: Request) -> Response:
        return JSONResponse({
            "object": "list",
            "data": [{"id": model_id, "object": "model", "created": created,
                      "owned_by": "llmops-reference"}],
        })

    async def model(request: Request) -> Response:
        wanted = request.path_params["model"]
        if wanted != model_id:
            return _error(404, f"The model `{wanted}` does not exist or you do not have access "
                          "to it.", "invalid_request_error", param="model",
                          code="model_not_found")
        return JSONResponse({"id": model_id, "object": "model", "created": created,
                             "owned_by": "llmops-reference"})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": model_id})

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/models/{model:path}", model, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        # Errors as the OpenAI API gives them: a JSON `error` object, whatever went wrong.
        exception_handlers={HTTPException: _http_error},
    )
    app.state.counts = counts
    app.state.load = load
    app.state.chatbot = bot
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    if status == 404:
        message = f"Invalid URL ({request.method} {request.url.path})"
    elif status == 405:
        message = f"Method {request.method} is not allowed for {request.url.path}"
    else:
        message = str(getattr(exc, "detail", "") or "error")
    return _error(status, message, "invalid_request_error",
                  headers=getattr(exc, "headers", None))


def _llm_params(base: Any, gen: Mapping[str, Any]) -> Any:
    """The version's llama.cpp parameters with the request's over them (max_tokens only ever
    lowered: the version's limit keeps the answer inside its context window)."""
    from dataclasses import replace

    values: dict[str, Any] = {}
    if "max_tokens" in gen:
        values["max_tokens"] = min(gen["max_tokens"], base.max_tokens)
    if "temperature" in gen:
        values["temperature"] = gen["temperature"]
    if "seed" in gen:
        values["seed"] = gen["seed"]
    return replace(base, **values) if values else None


def _count_usage(messages: list[dict[str, str]], answer: str) -> dict[str, int]:
    usage = {
        "prompt_tokens": sum(count_tokens(m["content"]) for m in messages),
        "completion_tokens": count_tokens(answer),
    }
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return usage


async def _words(answer: str) -> AsyncIterator[str]:
    for piece in re.findall(r"\s*\S+", answer):
        yield piece


def _stream(completion_id: str, model: str, pieces: AsyncIterable[str],
            outcome: Callable[[], tuple[str, dict[str, int]]]) -> StreamingResponse:
    """The answer as server-sent events, a piece each as `pieces` yields them; `outcome` gives
    the (finish_reason, usage) of the last event once the pieces are all out."""
    return StreamingResponse(_sse(completion_id, model, pieces, outcome),
                             media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def _sse(completion_id: str, model: str, pieces: AsyncIterable[str],
               outcome: Callable[[], tuple[str, dict[str, int]]]) -> AsyncIterator[str]:
    base = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model}

    def event(delta: dict[str, str], finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return f"data: {json.dumps({**base, 'choices': [choice], **extra})}\n\n"

    yield event({"role": "assistant", "content": ""})
    async for piece in pieces:
        yield event({"content": piece})
    finish, usage = outcome()
    yield event({}, finish, usage=usage)
    yield "data: [DONE]\n\n"


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: a free one).

    Made with `IPPROTO_TCP` so that asyncio sets TCP_NODELAY on each accepted connection (it
    checks the protocol): without it, Nagle's algorithm and delayed ACKs hold every response's
    body back by ~40 ms.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/v1" if sock.family == socket.AF_INET6 else \
        f"http://{host}:{port}/v1"


@contextlib.contextmanager
def serve_in_thread(
    app: Any, host: str = "127.0.0.1", port: int = 0, limits: Any = None
) -> Iterator[str]:
    """Run `app` with uvicorn in a background thread; yield its base URL ("http://H:P/v1").

    The socket is bound before the thread starts (port 0: a free port, no race), the URL is
    yielded once the server accepts connections, and the server is stopped on exit; requests
    still hanging then (the `timeout` fault) are cancelled after a second.
    """
    import uvicorn

    from llmops.chatbot.connections import uvicorn_options

    sock = bind_socket(host, port)
    url = base_url(sock)
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
        backlog=2048,
        **uvicorn_options(limits),  # request-read timeout and connection limit (slowloris)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"llmops-chatbot {url}",
        daemon=True,
    )
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the chatbot server stopped while starting")
            if time.monotonic() > deadline:
                raise RuntimeError("the chatbot server did not start within 15 s")
            time.sleep(0.005)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
