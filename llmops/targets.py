"""Targets: the chatbots llmops can ask. A target string names one (see `make_target`):

- `reference` / `reference:VERSION`: the built-in reference chatbot, in process;
- `http(s)://host:port/v1`: an OpenAI-compatible chat-completions endpoint;
- `python:package.module:function`: a sync or async callable taking the messages, returning text;
- `cmd:COMMAND`: a command reading the messages as JSON on stdin, writing the reply on stdout.

A target only asks; timeouts, retries and latency belong to the runner. Failures are raised as
`TargetError` with an `error_type` from `ERROR_TYPES`, so every kind of failure is classified once.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import importlib
import inspect
import json
import os
import re
import signal
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from llmops import scrub
from llmops.errors import InputError
from llmops.generation import Generation
from llmops.limits import Limits

Message = dict[str, str]
ERROR_TYPES = (
    "timeout",
    "connection",
    "http_4xx",
    "http_5xx",
    "rate_limited",
    "bad_response",
    "too_large",
)


class TargetError(Exception):
    """A failed ask. `retryable` errors are retried by the runner, after `retry_after` if given;
    `status` is the HTTP status of an HTTP target's refusal (429 and 503 tell the runner's
    adaptive limit that the server is overloaded)."""

    def __init__(
        self,
        error_type: str,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
        interrupted: bool = False,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        #: The server cut a streamed answer short (no finish reason): llama.cpp's server does
        #: so to start another request, the sign that it serves fewer at once than were sent.
        self.interrupted = interrupted


@dataclass
class Reply:
    text: str
    model: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    #: Milliseconds from the ask to the first piece of the answer (a streamed answer only).
    first_token_ms: float | None = None
    #: Why the answer ended, as the server says ("stop", "length": cut at max_tokens).
    finish_reason: str | None = None


class Target(ABC):
    #: A description safe to print and store: no credentials.
    name: str
    #: The chatbot version answering, when the target knows it.
    chatbot_version: str | None = None
    #: Concurrency that suits this target best, when it knows better than the configuration.
    preferred_concurrency: int | None = None
    #: Calls given up on after a timeout that could not be stopped (a blocked sync function):
    #: the run ended without waiting for them; the summary says how many.
    abandoned: int = 0
    #: Whether `ask` takes generation settings (`ask(messages, generation)`): an
    #: OpenAI-compatible endpoint does; a callable or a command takes the messages alone.
    accepts_generation: bool = False

    @abstractmethod
    async def ask(self, messages: list[Message]) -> Reply: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections or processes."""


class ReferenceTarget(Target):
    def __init__(self, version: str = "v1") -> None:
        from llmops.chatbot import Chatbot

        self._bot = Chatbot(version)
        self.chatbot_version = self._bot.version.name
        self.name = f"reference:{self.chatbot_version}"
        # A language-model version knows the concurrency its CPU-bound engine runs best at.
        llm = self._bot.version.llm
        self.preferred_concurrency = llm.concurrency if llm else None

    async def ask(self, messages: list[Message]) -> Reply:
        return Reply(await self._bot.areply(messages), model=self.name)


class HttpTarget(Target):
    """OpenAI-compatible chat completions over one keep-alive async client.

    With `generation.stream` (what an eval run sends unless told otherwise) the answer comes as
    server-sent events: the time to its first token is known, and a request the runner gives
    up on (a timeout, Ctrl-C) closes its connection, which is what makes a model server stop
    generating (llama.cpp's server notices a disconnect only while it streams). A server that
    answers a streamed request with one JSON body is read as such."""

    accepts_generation = True

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        limits: Limits | None = None,
        generation: Generation | None = None,
    ) -> None:
        import httpx

        self.name = public_target(base_url)
        self._model = model
        #: Extra request fields (temperature, seed, response_format...): an LLM judge sets them;
        #: they go over the generation settings.
        self.params: dict[str, Any] = {}
        #: The settings of a request that brings none: by default no field and one JSON body,
        #: as a bare client sends (an eval run passes its configuration's).
        self.generation = generation or Generation(max_tokens=0, stream=False)
        self._model_lock = asyncio.Lock()
        self._max_bytes = (limits or Limits()).max_answer_bytes
        # Whatever a server echoes of our credentials is scrubbed from every artifact.
        scrub.register(api_key)
        scrub.register_url(base_url)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Compressed answers are inflated by `_chunks`, within the size limit.
        headers["Accept-Encoding"] = "gzip, deflate"
        # One client per request in flight ("lanes"), each with one keep-alive connection:
        # httpcore's pool scans all its connections (and asks each idle socket whether it is
        # readable) twice per request, which cost ~0.5 ms of the event loop a request at 16
        # connections, as much as the rest of a request. Timeouts are the runner's (one budget
        # per request, whatever the target). No waiting for a lane either: the runner bounds the
        # requests in flight, and a wait here would be measured as the bot's latency.
        self._client_options: dict[str, Any] = dict(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=None,
            verify=_tls_context(base_url),  # one context, shared by the lanes
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        self._lanes: list[httpx.AsyncClient] = []
        self._idle: list[httpx.AsyncClient] = []

    async def _resolve_model(self) -> str:
        """The configured model, else the server's first listed one (Ollama, vLLM, llama.cpp...)."""
        if self._model:
            return self._model
        async with self._model_lock:
            if not self._model:
                data = await self._request("GET", "/models")
                try:
                    self._model = str(data["data"][0]["id"])
                except (KeyError, IndexError, TypeError):
                    self._model = "default"
                self.chatbot_version = self._model
        return self._model

    async def _request(self, method: str, path: str, body: Any = None) -> Any:
        """The JSON of one request (a stream of server-sent events is read into a Reply)."""
        import httpx

        start = time.perf_counter()
        try:
            # Streamed, so that a body that never ends is cut at the limit, not held whole;
            # leaving this block unfinished (cancelled) closes the connection.
            client = self._lane()
            try:
                async with client.stream(method, path, json=body) as resp:
                    if resp.status_code < 400 and _is_event_stream(resp):
                        return await self._read_events(resp, start)
                    raw = await self._read(resp)
            finally:
                self._idle.append(client)
        except httpx.TimeoutException as exc:
            raise TargetError("timeout", f"{type(exc).__name__} from {self.name}") from exc
        except (httpx.TransportError, OSError) as exc:
            raise TargetError(
                "connection", f"{type(exc).__name__}: {exc or 'connection failed'}", retryable=True
            ) from exc
        text = raw.decode(resp.encoding or "utf-8", errors="replace")
        self._raise_for_status(resp, text)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise TargetError(
                "bad_response", f"invalid JSON from {self.name}: {text[:60]!r}"
            ) from exc
        except RecursionError as exc:
            raise TargetError("bad_response", f"JSON from {self.name} nests too deeply") from exc

    def _raise_for_status(self, resp: Any, text: str) -> None:
        status = resp.status_code
        if status == 429:
            raise TargetError(
                "rate_limited",
                f"HTTP 429 from {self.name}",
                retryable=True,
                retry_after=parse_retry_after(resp.headers.get("retry-after")),
                status=status,
            )
        if status >= 500:
            raise TargetError(
                "http_5xx", f"HTTP {status} from {self.name}", retryable=True,
                retry_after=parse_retry_after(resp.headers.get("retry-after"))
                if status == 503 else None,
                status=status,
            )
        if status >= 400:
            raise TargetError(
                "http_4xx", f"HTTP {status} from {self.name}: {_error_text(text)}", status=status
            )

    async def _chunks(self, resp: Any) -> AsyncIterator[bytes]:
        """The body's bytes as they come, or `too_large` as soon as they pass
        `max_answer_bytes` (a declared Content-Length over it is refused before reading
        anything). A compressed body is inflated here, never more than the limit at a time: a
        200 KB gzip bomb must not become 200 MB on its way to being refused."""
        limit = self._max_bytes
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(self.name, limit)
        inflater = _inflater(resp.headers.get("content-encoding", ""), self.name)
        total = 0
        async for chunk in resp.aiter_raw():
            if inflater is not None:
                try:
                    chunk = inflater.decompress(chunk, limit + 1 - total)
                except Exception as exc:  # zlib.error: not what it said it was
                    raise TargetError("bad_response", f"corrupt compressed body from "
                                      f"{self.name}: {exc}") from exc
                if inflater.unconsumed_tail:  # more output is waiting: over the limit
                    raise _too_large(self.name, limit)
            total += len(chunk)
            if total > limit:
                raise _too_large(self.name, limit)
            yield chunk

    async def _read(self, resp: Any) -> bytes:
        """The whole body, within `max_answer_bytes` (see `_chunks`)."""
        body = bytearray()
        async for chunk in self._chunks(resp):
            body += chunk
        return bytes(body)

    async def _read_events(self, resp: Any, start: float) -> Reply:
        """A streamed chat completion (server-sent events, `data: {chunk}` ... `data: [DONE]`)
        read into one Reply. The stream's bytes count against `max_answer_bytes` as a body's
        do (about 200 bytes an event: 1 MiB holds some 4,000 tokens); an `error` event is a
        failure; a stream that ends before the answer did is a connection error."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        parts: list[str] = []
        reply = Reply("")
        done = False
        async for chunk in self._chunks(resp):
            if done:
                continue  # read to its end (within the limit): the connection is reused
            pending += decoder.decode(chunk)
            *lines, pending = pending.split("\n")
            for line in lines:
                done = done or self._event_line(line.rstrip("\r"), reply, parts, start)
        if not done and pending.strip():
            done = self._event_line(pending.rstrip("\r"), reply, parts, start)
        if reply.finish_reason is None:
            # Every answer's last event says why it ended; without one, it was cut short (a
            # dropped connection, or a server that interrupts a stream to start another).
            raise TargetError("connection", f"the answer stream of {self.name} ended before "
                              "the answer did (no finish reason"
                              + ("; the server cut it short)" if done else ")"),
                              retryable=True, interrupted=done)
        reply.text = "".join(parts)
        return reply

    def _event_line(self, line: str, reply: Reply, parts: list[str], start: float) -> bool:
        """Take one line of the event stream into `reply`; True at `data: [DONE]`."""
        if not line.startswith("data:"):
            return False  # blank lines end events; comments (": ping"), event: and id: lines
        data = line[5:].strip()
        if data == "[DONE]":
            return True
        try:
            event = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise TargetError("bad_response", f"invalid event from {self.name}: "
                              f"{data[:60]!r}") from exc
        if not isinstance(event, dict):
            raise TargetError("bad_response", f"an event of {self.name} is not an object")
        if event.get("error") is not None:
            raise TargetError("bad_response", f"{self.name} failed mid-answer: "
                              f"{_error_text(json.dumps(event))}")
        if isinstance(event.get("model"), str):
            reply.model = event["model"]
        usage = event.get("usage")
        if isinstance(usage, dict):
            reply.usage = usage
        choices = event.get("choices")
        if not isinstance(choices, list) or not choices:
            return False  # the usage event of stream_options.include_usage has none
        choice = choices[0] if isinstance(choices[0], dict) else {}
        delta = choice.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        if content is not None and not isinstance(content, str):
            raise TargetError("bad_response", f"delta content is {type(content).__name__}")
        if content:
            if reply.first_token_ms is None:
                reply.first_token_ms = (time.perf_counter() - start) * 1000
            parts.append(content)
        if isinstance(choice.get("finish_reason"), str):
            reply.finish_reason = choice["finish_reason"]
        return False

    async def ask(self, messages: list[Message], generation: Generation | None = None) -> Reply:
        gen = generation or self.generation
        model = await self._resolve_model()
        body: dict[str, Any] = {**gen.body(), **self.params, "model": model,
                                "messages": messages}
        if gen.stream:
            # usage in the stream's last event, where the server supports it (OpenAI, vLLM,
            # llama.cpp's own server; others ignore the field)
            body.update(stream=True, stream_options={"include_usage": True})
        data = await self._request("POST", "/chat/completions", body)
        if isinstance(data, Reply):
            data.model = data.model or model
            return data
        try:
            choice = data["choices"][0]
            message = choice["message"]
            text = message.get("content")
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise TargetError(
                "bad_response", f"no choices[0].message in the reply of {self.name}"
            ) from exc
        if text is not None and not isinstance(text, str):
            raise TargetError("bad_response", f"message content is {type(text).__name__}")
        usage = data.get("usage") if isinstance(data, dict) else None
        finish = choice.get("finish_reason") if isinstance(choice, dict) else None
        return Reply(
            text or "",
            model=data.get("model") or model,
            usage=usage if isinstance(usage, dict) else {},
            finish_reason=finish if isinstance(finish, str) else None,
        )

    def _lane(self) -> Any:
        """An idle client, or a new one (as many as requests were ever in flight at once)."""
        if self._idle:
            return self._idle.pop()
        import httpx

        client = httpx.AsyncClient(**self._client_options)
        self._lanes.append(client)
        return client

    async def aclose(self) -> None:
        for client in self._lanes:
            await client.aclose()


def _is_event_stream(resp: Any) -> bool:
    return resp.headers.get("content-type", "").split(";")[0].strip().lower() == \
        "text/event-stream"


def _tls_context(base_url: str) -> Any:
    """Certificate verification for https targets. A plain-http target speaks no TLS, so it gets
    a client context that trusts no certificate (cheap: loading the CA bundle cost ~50 ms of
    every run's start-up); were a request ever to reach an https URL, it would fail closed."""
    if urlsplit(base_url).scheme.lower() == "https":
        import httpx

        return httpx.create_ssl_context()  # the CA bundle httpx trusts, loaded once
    import ssl

    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class PythonTarget(Target):
    def __init__(self, ref: str, root: Path | None = None) -> None:
        self.name = f"python:{ref}"
        self._func = load_callable(ref, root)
        self._is_async = inspect.iscoroutinefunction(self._func) or inspect.iscoroutinefunction(
            getattr(self._func, "__call__", None)  # noqa: B004 - async callable objects
        )

    async def ask(self, messages: list[Message]) -> Reply:
        if self._is_async:
            result = await self._func(messages)
        else:  # a sync chatbot must not block the others: run it in a worker thread
            result = await self._in_thread(messages)
        if inspect.isawaitable(result):
            result = await result
        if result is None:
            return Reply("")
        if not isinstance(result, str):
            raise TargetError("bad_response", f"{self.name} returned {type(result).__name__}")
        return Reply(result)

    async def _in_thread(self, messages: list[Message]) -> Any:
        """Call the sync function in a daemon thread of its own. A thread cannot be stopped: on
        a timeout the call is abandoned (counted in `abandoned`) and left to finish or block on
        its own, and nothing waits for it, neither the run nor the interpreter's exit (which
        `asyncio.to_thread`'s executor would: a blocked call there kept the run alive forever)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def settle(ok: bool, value: Any) -> None:
            if not future.done():
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

        def work() -> None:
            try:
                value, ok = self._func(messages), True
            except BaseException as exc:  # delivered to the awaiting task, not lost
                value, ok = exc, False
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting
                loop.call_soon_threadsafe(settle, ok, value)

        threading.Thread(target=work, name=f"llmops {self.name}", daemon=True).start()
        try:
            return await future
        except asyncio.CancelledError:
            self.abandoned += 1
            raise


class CommandTarget(Target):
    """A command run per ask, in a process group of its own: on a timeout, a Ctrl-C or an
    answer over `max_answer_bytes`, the whole group (the shell and whatever it started) gets
    SIGTERM, then SIGKILL after `kill_grace_s`, so no bot outlives its exchange."""

    def __init__(self, command: str, *, limits: Limits | None = None) -> None:
        if not command.strip():
            raise InputError("cmd: target needs a command, e.g. cmd:./bot.sh")
        self.name = f"cmd:{command}"
        self._command = command
        self._limits = limits or Limits()
        # Each ask starts a process: more at once than there are cores only queues them on the
        # CPU, and the queueing counts as the bot's latency (an explicit --concurrency wins).
        self.preferred_concurrency = usable_cores()

    async def ask(self, messages: list[Message]) -> Reply:
        spawn = asyncio.ensure_future(asyncio.create_subprocess_shell(
            self._command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group, which we can kill whole
        ))
        try:
            proc = await asyncio.shield(spawn)
        except BaseException:
            # Cancelled while the process was starting (a Ctrl-C or a timeout right then):
            # asyncio's own clean-up would kill the shell alone and then wait for its pipes,
            # which the shell's children hold open (for ever, with `sleep 300 &`). Let the
            # start finish and kill the whole group instead.
            with contextlib.suppress(BaseException):
                started = await asyncio.shield(spawn)
                await asyncio.shield(self._kill_group(started))
                self._close_pipes(started)
            raise
        try:
            out, err = await self._exchange(proc, json.dumps(messages).encode())
        except BaseException:  # cancelled (timeout, Ctrl-C) or too large: leave nothing behind
            await asyncio.shield(self._kill_group(proc))
            raise
        finally:
            self._close_pipes(proc)
        if proc.returncode != 0:
            tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise TargetError(
                "bad_response", f"command exited with {proc.returncode}: {tail[0][:200]}"
            )
        try:
            text = out.decode()
        except UnicodeDecodeError as exc:
            raise TargetError("bad_response", "command output is not UTF-8") from exc
        return Reply(text.rstrip("\n"))

    async def _exchange(self, proc: Any, data: bytes) -> tuple[bytes, bytes]:
        """Write stdin, read stdout up to the limit and stderr's last 4 KB, wait for the exit."""
        limit = self._limits.max_answer_bytes

        async def feed() -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                proc.stdin.write(data)
                await proc.stdin.drain()
                proc.stdin.close()

        async def read_out() -> bytes:
            body = bytearray()
            while chunk := await proc.stdout.read(65536):
                body += chunk
                if len(body) > limit:
                    raise _too_large(self.name, limit)
            return bytes(body)

        async def read_err() -> bytes:
            tail = b""
            while chunk := await proc.stderr.read(65536):
                tail = (tail + chunk)[-4096:]
            return tail

        tasks = [asyncio.ensure_future(t) for t in (feed(), read_out(), read_err())]
        try:
            _, out, err = await asyncio.gather(*tasks)
            # The group may live on after stdout closed (a daemonised child): the exit of the
            # command itself is what we wait for.
            await proc.wait()
        finally:
            for t in tasks:
                t.cancel()
        return out, err

    async def _kill_group(self, proc: Any) -> None:
        """SIGTERM to the group, SIGKILL to whatever is left after the grace period."""
        pgid = proc.pid  # start_new_session: the group's id is the leader's pid
        _signal_group(pgid, signal.SIGTERM)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(proc.wait(), self._limits.kill_grace_s)
        # Children that ignore SIGTERM (or outlive their shell) are in the group still.
        _signal_group(pgid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            await proc.wait()
        # The rest of the group dies with SIGKILL but is reaped by someone else: give the
        # kernel a moment, so that when the exchange ends its processes have too.
        for _ in range(100):
            if not _group_alive(pgid):
                break
            await asyncio.sleep(0.01)

    @staticmethod
    def _close_pipes(proc: Any) -> None:
        # The pipes of a killed command may still be open when the loop ends; closing the
        # transport now (the process is reaped by then) leaves nothing for a closed loop.
        transport = getattr(proc, "_transport", None)
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.close()


def usable_cores() -> int:
    """The cores this process may run on (its affinity, where the OS says; else the count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies waiting for their reaper do not)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    proc = "/proc"
    if not os.path.isdir(proc):  # not Linux: signal 0 is all we can ask
        return True
    for entry in os.listdir(proc):
        if entry.isdigit():
            try:
                with open(f"{proc}/{entry}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != b"Z":
                return True
    return False


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _inflater(encoding: str, name: str) -> Any:
    """A zlib decompressor for a Content-Encoding (None for none); TargetError for others."""
    import zlib

    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise TargetError("bad_response", f"{name} answered with content-encoding {encoding!r}, "
                      "which was not asked for")


def _too_large(name: str, limit: int) -> TargetError:
    return TargetError(
        "too_large",
        f"the answer of {name} is larger than {limit} bytes; reading stopped "
        "([tool.llmops.limits] max_answer_bytes)",
    )


def make_target(
    spec: str,
    *,
    model: str | None = None,
    api_key: str | None = None,
    root: Path | None = None,
    limits: Limits | None = None,
    generation: Generation | None = None,
) -> Target:
    """Build the target a target string names; raise InputError for a string we cannot use.
    `root`: the project's directory (where pyproject.toml is), from which `python:` imports;
    `limits`: the answer size cap and the kill grace of `cmd:` bots; `generation`: what an
    OpenAI-compatible target sends with a request that brings no settings of its own."""
    spec = spec.strip()
    if spec == "reference" or spec.startswith("reference:"):
        return ReferenceTarget(spec.partition(":")[2] or "v1")
    if spec.startswith(("http://", "https://")):
        return HttpTarget(spec, model=model, api_key=api_key, limits=limits,
                          generation=generation)
    if spec.startswith("python:"):
        return PythonTarget(spec[len("python:") :], root)
    if spec.startswith("cmd:"):
        return CommandTarget(spec[len("cmd:") :], limits=limits)
    raise InputError(
        f"unknown target {public_target(spec)!r}: use reference[:VERSION], http(s)://HOST/v1, "
        "python:module:function or cmd:COMMAND"
    )


def validate_target(spec: str, root: Path | None = None) -> None:
    """Raise InputError now, before a run starts, for a target string that cannot work: an
    unknown scheme, a URL without a host, an unknown reference version, a python: callable that
    does not import, an empty command. (Reaching the target is the run's business.)"""
    spec = spec.strip()
    if spec == "reference" or spec.startswith("reference:"):
        from llmops.chatbot.versions import load_version

        load_version(spec.partition(":")[2] or "v1")
    elif spec.startswith(("http://", "https://")):
        try:
            parts = urlsplit(spec)
            _ = parts.port  # a bad port raises ValueError
        except ValueError as exc:
            raise InputError(f"{public_target(spec)!r} is not a valid URL: {exc}") from exc
        if not parts.hostname:
            raise InputError(f"{public_target(spec)!r} has no host")
    elif spec.startswith("python:"):
        load_callable(spec[len("python:") :], root)
    elif spec.startswith("cmd:"):
        CommandTarget(spec[len("cmd:") :])
    else:
        make_target(spec)  # raises the "unknown target" error


def check_target_spec(spec: str) -> None:
    """Raise InputError unless `spec` has the shape of a target string (nothing is imported,
    started or asked: for `llmops init`, which writes it down)."""
    s = spec.strip()
    if s == "reference" or re.fullmatch(r"reference:[A-Za-z0-9][A-Za-z0-9._-]*", s):
        return
    if s.startswith(("http://", "https://")) and urlsplit(s).hostname:
        return
    if s.startswith("python:") and re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*", s[7:]):
        return
    if s.startswith("cmd:") and s[4:].strip():
        return
    raise InputError(
        f"unknown target {public_target(s)!r}: use reference[:VERSION], http(s)://HOST/v1, "
        "python:module:function or cmd:COMMAND"
    )


def load_callable(
    ref: str, root: Path | None = None
) -> Callable[[list[Message]], str | Awaitable[str]]:
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise InputError(f"python target {ref!r}: expected python:package.module:function")
    if root is not None and str(root) not in sys.path:
        # As `python -m` does for the current directory: the project's own modules import in
        # any repository, whatever directory pytest put on the path (evals/, or none).
        sys.path.insert(0, str(root))
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"python target {ref!r}: cannot import {module_name}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InputError(f"python target {ref!r}: {module_name} has no {attr}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise InputError(f"python target {ref!r}: {attr} is not callable")
    return obj


_SECRET_QUERY = re.compile(r"(?i)(key|token|secret|password|auth|sig)")


def public_target(spec: str) -> str:
    """The target string without credentials: no user:password@, no secret-looking query values."""
    if not spec.startswith(("http://", "https://")):
        return spec
    parts = urlsplit(spec)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = "&".join(
        f"{k}=***" if _SECRET_QUERY.search(k) else f"{k}={v}"
        for k, _, v in (p.partition("=") for p in parts.query.split("&") if p)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: an integer, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from datetime import datetime, timezone

        when = parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError, IndexError):
        return None


def _error_text(body: str) -> str:
    try:
        data = json.loads(body)
        return str(data.get("error", {}).get("message") or data)[:200]
    except (ValueError, AttributeError):
        return body[:200]
