"""OpenTelemetry export of monitored exchanges, end to end.

The backend is a real one: Arize Phoenix (from PyPI), started on 127.0.0.1 by this module in a
virtualenv of its own (it pins far more than llmops' dev environment should carry: ~850 MB, a
few minutes to install the first time, then reused from `.venv/phoenix`, or from
$LLMOPS_TEST_PHOENIX_VENV). Phoenix stores the spans and serves them back over its REST API,
which is what the assertions read. The collector that hangs or is gone is a plain HTTP server
on 127.0.0.1 decoding OTLP with opentelemetry-proto.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the otel extra: pip install 'llmops[otel]'")

from llmops.monitoring import Monitor, monitored
from llmops.monitoring.otel import SpanExporter, from_settings, traces_url

REPO = Path(__file__).resolve().parents[1]
ACCOUNT = "12345678"
EMAIL = "alice.martin42@example.com"
HEADER_TOKEN = "otlp-test-token-5f1c2a9b"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _phoenix_python() -> Path:
    """Phoenix's own virtualenv, made on first use."""
    venv = Path(os.environ.get("LLMOPS_TEST_PHOENIX_VENV") or REPO / ".venv" / "phoenix")
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-qq", "arize-phoenix>=8"],
            check=True,
            timeout=1800,
        )
        stamp.touch()
    return python


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Phoenix server on 127.0.0.1; yields its base URL."""
    python = _phoenix_python()
    work = tmp_path_factory.mktemp("phoenix")
    port = _free_port()
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(work),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(_free_port()),
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    log = (work / "phoenix.log").open("wb")
    proc = subprocess.Popen(
        [str(python), "-m", "phoenix.server.main", "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=work,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"Phoenix exited: {(work / 'phoenix.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("Phoenix did not start in 180 s")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _phoenix_spans(base: str, want: int) -> list[dict[str, Any]]:
    """The spans of Phoenix's default project, once `want` of them are there."""
    spans: list[dict[str, Any]] = []
    for _ in range(120):
        with urllib.request.urlopen(f"{base}/v1/projects/default/spans?limit=100") as r:
            spans = json.load(r)["data"]
        if len(spans) >= want:
            return spans
        time.sleep(0.5)
    raise AssertionError(f"Phoenix holds {len(spans)} spans, expected {want}")


def test_spans_reach_phoenix_with_genai_attributes_and_no_raw_pii(
    phoenix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMOPS_TEST_OTLP_HEADERS", f"x-llmops-test={HEADER_TOKEN}")
    settings = {
        "otlp_endpoint": phoenix,  # the bare address: /v1/traces is added
        "otlp_headers_env": "LLMOPS_TEST_OTLP_HEADERS",
        "otlp_service_name": "support-bot",
    }
    exporter = from_settings(settings, "pyproject.toml: [tool.llmops.monitor]")
    assert exporter is not None and exporter.endpoint == f"{phoenix}/v1/traces"
    mon = Monitor(tmp_path / "logs", exporter=exporter)

    # The reply echoes the account number the user gave: nothing in the reply marks it as one.
    @monitored(version="v7", monitor=mon)
    def bot(prompt: str) -> str:
        return f"Sure: {ACCOUNT} is a lovely number. I wrote to {EMAIL}."

    answer = bot(f"My account number is {ACCOUNT}, what's my balance?")
    assert ACCOUNT in answer  # the caller gets the raw answer; only artifacts are redacted
    mon.record(
        prompt="Summarise my last statement",
        response="Here it is.",
        latency_ms=812.0,
        target="http://127.0.0.1:9/v1",
        chatbot_version="v7",
        model="gpt-test-mini",
        response_model="gpt-test-mini-2026",
        usage={"prompt_tokens": 41, "completion_tokens": 9},
        conversation_id="conv-1",
    )
    mon.record(
        prompt=f"Email me at {EMAIL}",
        response=None,
        latency_ms=30000.0,
        target="python:bot",
        chatbot_version="v7",
        error_type="timeout",
        error=f"TimeoutError: gave up on {EMAIL}",
    )
    mon.close()  # sends what is queued

    spans = _phoenix_spans(phoenix, 3)
    assert len(spans) == 3
    raw = json.dumps(spans)
    assert ACCOUNT not in raw and EMAIL not in raw, "raw PII reached the collector"
    assert HEADER_TOKEN not in raw
    assert sorted(s["attributes"]["llmops.status"] for s in spans) == ["error", "ok", "ok"]

    echoed = next(
        s for s in spans if "lovely" in s["attributes"].get("llmops.response_redacted", "")
    )
    a = echoed["attributes"]
    assert a["gen_ai.operation.name"] == "chat"
    assert a["llmops.chatbot_version"] == "v7"
    assert a["llmops.response_redacted"].startswith("Sure: <")  # the echoed number, redacted
    assert "<EMAIL_ADDRESS>" in a["llmops.response_redacted"]
    assert "EMAIL_ADDRESS" in a["llmops.pii_response_types"]
    assert a["llmops.prompt_redacted"] != f"My account number is {ACCOUNT}, what's my balance?"
    assert echoed["name"] == "chat"

    usage = next(s for s in spans if s["attributes"].get("gen_ai.request.model"))
    u = usage["attributes"]
    assert usage["name"] == "chat gpt-test-mini"
    assert u["gen_ai.request.model"] == "gpt-test-mini"
    assert u["gen_ai.response.model"] == "gpt-test-mini-2026"
    assert u["gen_ai.usage.input_tokens"] == 41
    assert u["gen_ai.usage.output_tokens"] == 9
    assert u["gen_ai.conversation.id"] == "conv-1"
    assert u["llmops.latency_ms"] == 812.0
    assert u["llmops.target"] == "http://127.0.0.1:9/v1"
    # The span lasts the exchange's latency.
    from datetime import datetime

    start = datetime.fromisoformat(usage["start_time"])
    end = datetime.fromisoformat(usage["end_time"])
    assert abs((end - start).total_seconds() - 0.812) < 0.002

    failed = next(s for s in spans if s["attributes"]["llmops.status"] == "error")
    f = failed["attributes"]
    assert failed["status_code"] == "ERROR"
    assert f["error.type"] == f["llmops.error_type"] == "timeout"
    assert f["llmops.error_redacted"] == "TimeoutError: gave up on <EMAIL_ADDRESS>"
    assert "llmops.response_redacted" not in f

    # The logs hold the same redacted texts: the fix is the wrapper's, not the exporter's.
    log = (tmp_path / "logs" / "monitoring.jsonl").read_text()
    assert ACCOUNT not in log and EMAIL not in log


class _Collector(http.server.ThreadingHTTPServer):
    """An OTLP/HTTP receiver on 127.0.0.1: decodes each request with opentelemetry-proto and
    keeps the spans and headers. With `hold` set, every request waits until it is released."""

    daemon_threads = True

    def __init__(self, hold: bool = False) -> None:
        self.requests: list[tuple[dict[str, str], Any]] = []
        self.arrived = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/traces"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Collector

    def do_POST(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.server.requests.append((dict(self.headers), request))
        self.server.arrived.set()
        self.server.release.wait(900)
        payload = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[_Collector]:
    server = _Collector(hold=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def test_a_hanging_collector_never_holds_an_answer(
    collector: _Collector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer%20{HEADER_TOKEN}")
    exporter = from_settings(
        # A timeout far past the test's length: the batch stays on its way until released.
        {"otlp_endpoint": collector.url, "otlp_timeout_s": 900}, "pyproject.toml"
    )
    assert exporter is not None
    mon = Monitor(tmp_path / "logs", exporter=exporter)
    bot = monitored(lambda p: f"echo {p}", monitor=mon, version="v1")
    assert bot("first") == "echo first"
    # The batch goes out from the SDK's thread after its delay (flush() would send from this
    # thread, which is what the chat path must never do).
    assert collector.arrived.wait(60), "the first batch never reached the collector"
    # The collector now holds the exporter's only sending thread. Every answer still comes
    # back, and is logged, while that batch is on its way.
    answers = [bot(f"q{i}") for i in range(200)]
    assert answers == [f"echo q{i}" for i in range(200)]
    assert exporter.sending == 1, "the chat path waited for the collector"
    assert len((tmp_path / "logs" / "monitoring.jsonl").read_text().splitlines()) == 201
    collector.release.set()
    mon.close()
    headers, first = collector.requests[0]
    assert headers["authorization"] == f"Bearer {HEADER_TOKEN}"  # headers from the environment
    spans = [s for r in (req for _, req in collector.requests)
             for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(spans) == 201
    resource = {a.key: a.value.string_value
                for a in first.resource_spans[0].resource.attributes}
    assert resource["service.name"] == "llmops"
    attrs = {a.key: a for a in spans[0].attributes}
    assert attrs["gen_ai.operation.name"].value.string_value == "chat"
    assert attrs["llmops.status"].value.string_value == "ok"


def test_a_dead_collector_costs_no_answer_and_warns_once(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    exporter = SpanExporter(dead, timeout_s=0.5, schedule_delay_ms=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mon = Monitor(tmp_path / "logs", exporter=exporter)
        exporter._warn = lambda m: warnings.warn(m, RuntimeWarning, stacklevel=2)
        bot = monitored(lambda p: p.upper(), monitor=mon)
        assert [bot(f"hello {i}") for i in range(50)] == [f"HELLO {i}" for i in range(50)]
        mon.close()
    assert exporter.failures >= 1
    ours = [w for w in caught if "OpenTelemetry export" in str(w.message)]
    assert len(ours) == 1 and dead in str(ours[0].message)
    assert len((tmp_path / "logs" / "monitoring.jsonl").read_text().splitlines()) == 50


def test_settings_are_checked() -> None:
    from llmops.errors import InputError

    assert from_settings({}, "x") is None
    assert traces_url("http://h:4318") == "http://h:4318/v1/traces"
    assert traces_url("https://h/api/public/otel/v1/traces") == "https://h/api/public/otel/v1/traces"
    for bad in ({"otlp_endpoint": "ftp://h"}, {"otlp_endpoint": 5},
                {"otlp_endpoint": "http://h", "otlp_timeout_s": 0},
                {"otlp_endpoint": "http://h", "otlp_timeout_s": "soon"}):
        with pytest.raises(InputError, match=r"pyproject\.toml"):
            from_settings(bad, "pyproject.toml: [tool.llmops.monitor]")


def test_monitor_from_config_builds_the_exporter(tmp_path: Path) -> None:
    from llmops.config import load_config

    collector = _Collector()
    thread = threading.Thread(target=collector.serve_forever, daemon=True)
    thread.start()
    try:
        (tmp_path / "pyproject.toml").write_text(
            f'[tool.llmops]\nlogs = "logs"\n[tool.llmops.monitor]\n'
            f'otlp_endpoint = "{collector.url}"\n'
            'otlp_service_name = "bank-bot"\n'
        )
        mon = Monitor.from_config(load_config(tmp_path))
        assert mon.exporter is not None
        mon.record(prompt="hi", response="hello", latency_ms=5.0, target="t")
        mon.close()
        _, request = collector.requests[0]
        resource = {a.key: a.value.string_value
                    for a in request.resource_spans[0].resource.attributes}
        assert resource["service.name"] == "bank-bot"
    finally:
        collector.shutdown()
        collector.server_close()
