"""The reference chatbot over HTTP: a real uvicorn server on a free port, a real httpx client."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator

import httpx
import pytest

from llmops.chatbot import Chatbot
from llmops.chatbot.server import create_app, serve_in_thread
from llmops.errors import InputError

QUESTION = {"messages": [{"role": "user", "content": "How do I freeze my debit card?"}]}


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve_in_thread(create_app("v1")) as base:
        yield base


def test_chat_completion(url: str) -> None:
    r = httpx.post(f"{url}/chat/completions", json={"model": "v1", **QUESTION})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == "v1"
    answer = body["choices"][0]["message"]
    assert answer["role"] == "assistant"
    assert answer["content"] == Chatbot("v1").reply(QUESTION["messages"])
    assert body["choices"][0]["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 10
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_streaming_sse(url: str) -> None:
    events = []
    with httpx.stream("POST", f"{url}/chat/completions", json={**QUESTION, "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line:
                assert line.startswith("data: ")
                events.append(line[len("data: "):])
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == Chatbot("v1").reply(QUESTION["messages"])
    assert len(chunks) > 10  # streamed in pieces, not one blob
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] > 0


def test_models_and_healthz(url: str) -> None:
    models = httpx.get(f"{url}/models").json()
    assert [m["id"] for m in models["data"]] == ["v1"]
    health = httpx.get(url.removesuffix("/v1") + "/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok", "version": "v1"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (json.dumps({"messages": []}).encode(), "messages"),
        (json.dumps({"messages": "hi"}).encode(), "messages"),
        (json.dumps({"messages": [{"role": "robot", "content": "hi"}]}).encode(),
         "messages[0].role"),
        (json.dumps({"messages": [{"role": "user", "content": 5}]}).encode(),
         "messages[0].content"),
        (json.dumps({**QUESTION, "stream": "yes"}).encode(), "stream"),
    ],
)
def test_bad_request_is_400(url: str, body: bytes, param: str | None) -> None:
    r = httpx.post(f"{url}/chat/completions", content=body,
                   headers={"content-type": "application/json"})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    assert error["param"] == param


def test_too_large_body_is_413(url: str) -> None:
    big = {"messages": [{"role": "user", "content": "x" * 1_100_000}]}
    assert httpx.post(f"{url}/chat/completions", json=big).status_code == 413


def test_unknown_path_and_method(url: str) -> None:
    assert httpx.get(f"{url}/chat/completions").status_code == 405
    assert httpx.get(f"{url}/nothing").status_code == 404


# --- Faults --------------------------------------------------------------------------------------

def _faulty(kind: str, **kw: object):
    return serve_in_thread(create_app("v1", fault=kind, fault_rate=1.0, **kw))


def test_fault_500() -> None:
    with _faulty("500") as url:
        r = httpx.post(f"{url}/chat/completions", json=QUESTION)
        assert r.status_code == 500 and r.json()["error"]["type"] == "server_error"
        assert httpx.get(url.removesuffix("/v1") + "/healthz").status_code == 200


def test_fault_429_with_retry_after() -> None:
    with _faulty("429", retry_after_s=3) as url:
        r = httpx.post(f"{url}/chat/completions", json=QUESTION)
        assert r.status_code == 429 and r.headers["retry-after"] == "3"
        assert r.json()["error"]["type"] == "rate_limit_error"


def test_fault_timeout_hangs_until_the_client_gives_up() -> None:
    app = create_app("v1", fault="timeout", fault_rate=1.0)
    with serve_in_thread(app) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/chat/completions", json=QUESTION, timeout=0.3)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/chat/completions", json={**QUESTION, "stream": True}, timeout=0.3)
    assert app.state.counts["timeout"] == 2


def test_stopping_the_server_ends_hanging_requests() -> None:
    outcome: list[BaseException | int] = []

    def client(url: str) -> None:
        try:
            outcome.append(httpx.post(f"{url}/chat/completions", json=QUESTION,
                                      timeout=30).status_code)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    app = create_app("v1", fault="timeout", fault_rate=1.0)
    with serve_in_thread(app) as url:
        waiting = threading.Thread(target=client, args=(url,))
        waiting.start()
        while not app.state.counts["timeout"]:
            waiting.join(0.01)
    waiting.join(20)
    assert not waiting.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.TransportError)


def test_fault_timeout_ends_after_hang_s() -> None:
    with _faulty("timeout", hang_s=0.2) as url:
        r = httpx.post(f"{url}/chat/completions", json=QUESTION, timeout=5)
        assert r.status_code == 504


def test_fault_empty() -> None:
    with _faulty("empty") as url:
        r = httpx.post(f"{url}/chat/completions", json=QUESTION)
        assert r.status_code == 200
        assert r.json()["choices"][0]["message"]["content"] == ""
        streamed = httpx.post(f"{url}/chat/completions", json={**QUESTION, "stream": True})
        assert streamed.text.rstrip().endswith("data: [DONE]")
        assert '"content": ""' in streamed.text and "Freeze" not in streamed.text


def test_fault_garbage() -> None:
    with _faulty("garbage") as url:
        r = httpx.post(f"{url}/chat/completions", json=QUESTION)
        assert r.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            r.json()


def test_fault_drop_closes_the_connection() -> None:
    with _faulty("drop") as url:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            httpx.post(f"{url}/chat/completions", json=QUESTION)
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(f"{url}/chat/completions", json={**QUESTION, "stream": True})
        assert httpx.get(url.removesuffix("/v1") + "/healthz").status_code == 200


def test_fault_rate_is_seeded_and_reproducible() -> None:
    def outcomes(seed: int) -> list[int]:
        app = create_app("v1", fault="500", fault_rate=0.5, seed=seed)
        with serve_in_thread(app) as url, httpx.Client() as client:
            return [client.post(f"{url}/chat/completions", json=QUESTION).status_code
                    for _ in range(30)]

    first, again = outcomes(7), outcomes(7)
    assert first == again
    assert 200 in first and 500 in first


def test_fault_markers_and_mixed_kinds() -> None:
    app = create_app("v1", fault="500,429", fault_rate=0.0, fault_markers=True, seed=1)
    with serve_in_thread(app) as url:
        def post(text: str) -> httpx.Response:
            return httpx.post(f"{url}/chat/completions",
                              json={"messages": [{"role": "user", "content": text}]})

        assert post("[[fault:429]] hello").status_code == 429
        assert post("[[fault:500]] hello").status_code == 500
        assert post("How do I report fraud?").status_code == 200
    assert app.state.counts == {"429": 1, "500": 1, "ok": 1}


def test_bad_settings() -> None:
    with pytest.raises(InputError, match="unknown fault kind"):
        create_app("v1", fault="explode", fault_rate=1)
    with pytest.raises(InputError, match="between 0 and 1"):
        create_app("v1", fault="500", fault_rate=2)
    with pytest.raises(InputError, match="needs a fault kind"):
        create_app("v1", fault_rate=0.5)
    with pytest.raises(InputError):
        create_app("v99")


# --- Concurrency ---------------------------------------------------------------------------------

def test_200_concurrent_requests_with_latency() -> None:
    app = create_app("v1", latency_ms=200, jitter_ms=20, seed=3)

    async def run(url: str) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
            return await asyncio.gather(*(
                client.post("/chat/completions", json={"messages": [
                    {"role": "user", "content": f"How do I report fraud? ({i})"}]})
                for i in range(200)
            ))

    with serve_in_thread(app) as url:
        responses = asyncio.run(run(url))
    assert [r.status_code for r in responses] == [200] * 200
    assert all("fraud" in r.json()["choices"][0]["message"]["content"] for r in responses)
    assert app.state.counts["ok"] == 200


# --- `llmops chatbot serve` ----------------------------------------------------------------------

def test_cli_serve_in_a_subprocess() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmops", "chatbot", "serve", "--port", "0", "--version", "v2",
         "--latency-ms", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        line = proc.stdout.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+/v1)", line)
        assert found, line + proc.stderr.read()
        url = found.group(1)
        r = httpx.post(f"{url}/chat/completions", timeout=10, json={"messages": [
            {"role": "user", "content": "My account is 12345678, what is my balance?"}]})
        content = r.json()["choices"][0]["message"]["content"]
        assert "12345678" in content and "$5,432.10" in content  # v2's regression, over HTTP
        assert httpx.get(f"{url}/models").json()["data"][0]["id"] == "v2"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) is not None
