"""The monitoring wrapper: every exchange one schema-valid, redacted event in both logs."""

from __future__ import annotations

import asyncio
import json
import threading
import warnings
from pathlib import Path

import jsonschema
import pytest

from llmops.monitoring import Monitor, MonitoredTarget, classify_exception, conversation, monitored
from llmops.monitoring.events import build_event, to_text_line
from llmops.monitoring.logfiles import RotatingFile
from llmops.runner import RetryPolicy
from llmops.schemas import load_schema
from llmops.targets import TargetError, make_target

SCHEMA = load_schema("monitoring_event")
VALIDATOR = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)
EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"


def events(logs: Path) -> list[dict]:
    lines = (logs / "monitoring.jsonl").read_text(encoding="utf-8").splitlines()
    out = [json.loads(line) for line in lines]
    for event in out:
        VALIDATOR.validate(event)
    return out


def text_lines(logs: Path) -> list[str]:
    return (logs / "monitoring.log").read_text(encoding="utf-8").splitlines()


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path / "logs"


@pytest.fixture
def monitor(logs: Path) -> Monitor:
    mon = Monitor(logs, slow_ms=50)
    yield mon
    mon.close()


def test_sync_function_logs_one_event_in_each_log(monitor: Monitor, logs: Path) -> None:
    @monitored(version="v7", monitor=monitor)
    def bot(prompt: str) -> str:
        return "You can freeze it in the app."

    assert bot("How do I freeze my card?") == "You can freeze it in the app."
    [event] = events(logs)
    assert event["status"] == "ok"
    assert event["chatbot_version"] == "v7"
    assert event["target"].endswith("bot")
    assert event["error_type"] is None
    assert event["slow"] is False
    assert event["pii_types"] == []
    assert event["prompt_redacted"] == "How do I freeze my card?"
    assert event["response_redacted"] == "You can freeze it in the app."
    assert event["timestamp"].endswith("Z")
    [line] = text_lines(logs)
    assert event["event_id"] in line and "OK" in line and "version=v7" in line


def test_async_function_and_conversation_ids(monitor: Monitor, logs: Path) -> None:
    @monitored(version="v2", monitor=monitor)
    async def bot(messages: list[dict[str, str]]) -> str:
        await asyncio.sleep(0)
        return f"you said {messages[-1]['content']}"

    async def talk() -> None:
        with conversation("conv-1"):
            await bot([{"role": "user", "content": "hello"}])
            await bot(
                [
                    {"role": "user", "content": "hello"},
                    {"role": "assistant", "content": "hi"},
                    {"role": "user", "content": "again"},
                ]
            )
        await bot([{"role": "user", "content": "alone"}])

    asyncio.run(talk())
    first, second, third = events(logs)
    assert first["conversation_id"] == second["conversation_id"] == "conv-1"
    assert third["conversation_id"] != "conv-1"
    assert second["prompt_redacted"] == "again"  # the last user message
    assert second["response_redacted"] == "you said again"


def test_decorator_without_arguments_uses_given_monitor(monitor: Monitor, logs: Path) -> None:
    bot = monitor.wrap(lambda prompt: "fine", version="v1")
    assert bot("hi") == "fine"
    assert events(logs)[0]["chatbot_version"] == "v1"


def test_conversation_id_keyword_is_used(monitor: Monitor, logs: Path) -> None:
    @monitored(monitor=monitor)
    def bot(prompt: str, conversation_id: str | None = None) -> str:
        return "ok"

    bot("hi", conversation_id="abc")
    assert events(logs)[0]["conversation_id"] == "abc"
    assert events(logs)[0]["chatbot_version"] == "unknown"


@pytest.mark.parametrize(
    ("exc", "error_type"),
    [
        (TimeoutError("took too long"), "timeout"),
        (ConnectionRefusedError("refused"), "connection"),
        (TargetError("rate_limited", "429"), "rate_limited"),
        (ValueError("bad json"), "bad_response"),
    ],
)
def test_errors_are_classified_and_reraised(
    monitor: Monitor, logs: Path, exc: Exception, error_type: str
) -> None:
    @monitored(monitor=monitor)
    def bot(prompt: str) -> str:
        raise exc

    with pytest.raises(type(exc)):
        bot("hello")
    [event] = events(logs)
    assert event["status"] == "error"
    assert event["error_type"] == error_type
    assert event["response_redacted"] is None
    assert f"error={error_type}" in text_lines(logs)[0]


def test_http_status_exceptions_are_classified() -> None:
    class APIStatusError(Exception):
        def __init__(self, status_code: int) -> None:
            self.status_code = status_code

    class ReadTimeout(Exception):
        pass

    assert classify_exception(APIStatusError(429)) == "rate_limited"
    assert classify_exception(APIStatusError(503)) == "http_5xx"
    assert classify_exception(APIStatusError(404)) == "http_4xx"
    assert classify_exception(ReadTimeout()) == "timeout"


@pytest.mark.parametrize("reply", [None, "", "   \n"])
def test_empty_replies(monitor: Monitor, logs: Path, reply: str | None) -> None:
    @monitored(monitor=monitor)
    def bot(prompt: str) -> str | None:
        return reply

    assert bot("hi") == reply
    [event] = events(logs)
    assert event["status"] == "empty"
    assert "EMPTY" in text_lines(logs)[0]


def test_slow_flag_uses_threshold(logs: Path) -> None:
    mon = Monitor(logs, slow_ms=100)

    for latency, slow in ((99.9, False), (100.0, True), (2500.0, True), (None, False)):
        event = mon.record(prompt="p", response="r", latency_ms=latency, target="t")
        assert event is not None and event["slow"] is slow
    assert [e["slow"] for e in events(logs)] == [False, True, True, False]
    assert "slow" in text_lines(logs)[1].split()
    mon.close()


def test_pii_is_redacted_in_both_logs(monitor: Monitor, logs: Path) -> None:
    @monitored(monitor=monitor)
    def bot(prompt: str) -> str:
        return f"I have noted {EMAIL} and the card {CARD}."

    bot(f"My email is {EMAIL} and my card is {CARD}, call me")
    [event] = events(logs)
    assert set(event["pii_types"]) >= {"EMAIL_ADDRESS", "CREDIT_CARD"}
    assert set(event["pii_response_types"]) >= {"EMAIL_ADDRESS", "CREDIT_CARD"}
    assert "<EMAIL_ADDRESS>" in event["prompt_redacted"]
    assert "<CREDIT_CARD>" in event["response_redacted"]
    for name in ("monitoring.jsonl", "monitoring.log"):
        raw = (logs / name).read_text(encoding="utf-8")
        assert EMAIL not in raw
        assert CARD not in raw and CARD.replace(" ", "") not in raw
        assert "pii=" in raw or name.endswith("jsonl")


def test_long_texts_are_scanned_whole_then_cut(logs: Path) -> None:
    mon = Monitor(logs, text_chars=100)
    prompt = "blah " * 30 + f"my email is {EMAIL} " + "more " * 2000
    mon.record(prompt=prompt, response="ok", latency_ms=1.0, target="t")
    [event] = events(logs)
    assert "EMAIL_ADDRESS" in event["pii_types"]
    assert event["prompt_chars"] == len(prompt)
    assert len(event["prompt_redacted"]) < 140
    assert "more chars]" in event["prompt_redacted"] or "chars]" in event["prompt_redacted"]
    assert EMAIL not in (logs / "monitoring.jsonl").read_text()
    mon.close()


def test_failing_detector_drops_texts_not_the_event(logs: Path) -> None:
    class Broken:
        def scan(self, text: str) -> list:
            raise RuntimeError("boom")

    mon = Monitor(logs, detector=Broken())
    mon.record(prompt=f"mail {EMAIL}", response="r", latency_ms=1.0, target="t")
    [event] = events(logs)
    assert event["prompt_redacted"] == "<REDACTION_FAILED>"
    assert EMAIL not in (logs / "monitoring.log").read_text()
    mon.close()


def test_logging_failure_keeps_the_chat_and_warns_once(tmp_path: Path) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("I am a file, not a directory")
    mon = Monitor(blocker)

    @monitored(monitor=mon)
    def bot(prompt: str) -> str:
        return "still here"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        answers = [bot("hi") for _ in range(5)]
    assert answers == ["still here"] * 5
    relevant = [w for w in caught if "cannot log" in str(w.message)]
    assert len(relevant) == 1
    assert mon.dropped == 5


def test_logging_failure_in_async_chat(tmp_path: Path) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("")
    mon = Monitor(blocker)

    @monitored(monitor=mon)
    async def bot(prompt: str) -> str:
        return "async answer"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert asyncio.run(bot("hi")) == "async answer"
    assert mon.dropped == 1


def test_threads_write_whole_lines(monitor: Monitor, logs: Path) -> None:
    @monitored(monitor=monitor)
    def bot(prompt: str) -> str:
        return "answer " + prompt * 50

    def worker(n: int) -> None:
        for i in range(25):
            bot(f"thread {n} message {i} ")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    evs = events(logs)  # every line parses and validates: none interleaved
    assert len(evs) == 200
    assert len({e["event_id"] for e in evs}) == 200
    assert len(text_lines(logs)) == 200
    assert {e["prompt_redacted"] for e in evs} == {
        f"thread {n} message {i} " for n in range(8) for i in range(25)
    }


def test_asyncio_tasks_write_whole_lines(monitor: Monitor, logs: Path) -> None:
    @monitored(monitor=monitor)
    async def bot(prompt: str) -> str:
        await asyncio.sleep(0)
        return "reply to " + prompt

    async def main() -> None:
        async def convo(n: int) -> None:
            with conversation(f"c{n}"):
                for i in range(10):
                    await bot(f"{n}-{i}")

        await asyncio.gather(*(convo(n) for n in range(20)))

    asyncio.run(main())
    evs = events(logs)
    assert len(evs) == 200
    for e in evs:  # the context variable kept each task's conversation apart
        assert e["conversation_id"] == "c" + e["prompt_redacted"].split("-")[0]


def test_rotation_keeps_n_backups(tmp_path: Path) -> None:
    mon = Monitor(tmp_path / "logs", max_bytes=2000, backups=2)
    for i in range(60):
        mon.record(prompt=f"question {i}", response="answer", latency_ms=1.0, target="t")
    mon.close()
    logs = tmp_path / "logs"
    names = sorted(p.name for p in logs.iterdir())
    assert names == [
        "monitoring.jsonl",
        "monitoring.jsonl.1",
        "monitoring.jsonl.2",
        "monitoring.log",
        "monitoring.log.1",
        "monitoring.log.2",
    ]
    for name in names:
        assert (logs / name).stat().st_size <= 2000
    kept = []
    for name in ("monitoring.jsonl.2", "monitoring.jsonl.1", "monitoring.jsonl"):
        for line in (logs / name).read_text().splitlines():
            kept.append(json.loads(line)["prompt_redacted"])  # whole lines only
    assert kept[-1] == "question 59"
    numbers = [int(k.split()[1]) for k in kept]
    assert numbers == sorted(numbers)  # oldest in .2, newest in the live file


def test_rotating_file_follows_a_rotation_by_someone_else(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    f = RotatingFile(path, max_bytes=0)
    f.write(b"one\n")
    path.rename(tmp_path / "x.log.1")
    f.write(b"two\n")
    f.close()
    assert path.read_text() == "two\n"
    assert (tmp_path / "x.log.1").read_text() == "one\n"


def test_monitored_target_uses_the_runner(monitor: Monitor, logs: Path) -> None:
    async def main() -> None:
        bot = MonitoredTarget(make_target("reference"), monitor, policy=RetryPolicy(retries=0))
        ex = await bot.ask([{"role": "user", "content": "How do I freeze my card?"}])
        assert ex.ok and ex.response
        await bot.aclose()

    asyncio.run(main())
    [event] = events(logs)
    assert event["target"] == "reference:v1"
    assert event["chatbot_version"] == "v1"
    assert event["attempts"] == 1
    assert event["status"] == "ok"
    assert event["gen_ai.request.model"] == "reference:v1"


def test_build_event_adds_otel_usage() -> None:
    event = build_event(
        prompt="p",
        response="r",
        latency_ms=3.2,
        chatbot_version="v1",
        target="http://h/v1",
        slow_ms=1000,
        detector=None,
        model="gpt-x",
        usage={"prompt_tokens": 12, "completion_tokens": 30},
    )
    VALIDATOR.validate(event)
    assert event["gen_ai.request.model"] == "gpt-x"
    assert event["gen_ai.usage.input_tokens"] == 12
    assert event["gen_ai.usage.output_tokens"] == 30
    assert "\n" not in to_text_line({**event, "prompt_redacted": "two\nlines"})[:-1]


def test_decorator_alone_reads_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llmops.monitoring.wrapper as wrapper

    (tmp_path / "pyproject.toml").write_text(
        '[tool.llmops]\nlogs = "var/logs"\n[tool.llmops.monitor]\nslow_ms = 0\n'
        '[tool.llmops.pii]\nallow = ["help@bank.example.com"]\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(wrapper, "_default_monitor", None)

    @monitored(version="v3")
    def bot(prompt: str) -> str:
        return "write to help@bank.example.com"

    assert bot(f"I am {EMAIL}") == "write to help@bank.example.com"
    [event] = events(tmp_path / "var/logs")
    assert event["slow"] is True  # slow_ms = 0 from the file
    assert event["pii_response_types"] == []  # the allowed address is public
    assert event["pii_types"] == ["EMAIL_ADDRESS"]
    wrapper.default_monitor().close()


def test_bad_monitor_setting_is_input_error(tmp_path: Path) -> None:
    from llmops.config import load_config
    from llmops.errors import InputError

    (tmp_path / "pyproject.toml").write_text('[tool.llmops.monitor]\nslow_ms = "soon"\n')
    with pytest.raises(InputError, match=r"\[tool.llmops.monitor\]"):
        Monitor.from_config(load_config(tmp_path))


def test_async_callable_object_is_awaited_then_logged(monitor: Monitor, logs: Path) -> None:
    class Bot:
        async def __call__(self, prompt: str) -> str:
            return "from an object"

    bot = monitored(Bot(), monitor=monitor, target="python:bot")
    assert asyncio.run(bot("hi")) == "from an object"
    [event] = events(logs)
    assert event["response_redacted"] == "from an object"
    assert event["target"] == "python:bot"


def test_a_value_the_user_gave_is_redacted_where_the_reply_echoes_it(logs: Path) -> None:
    """Nothing in "12345678 is on file" says it is an account number; the conversation does."""
    mon = Monitor(logs)

    @monitored(monitor=mon)
    def bot(messages: list[dict[str, str]]) -> str:
        return "Thanks. 12345678 is on file; anything else?"

    history = [
        {"role": "user", "content": "My account number is 12345678."},
        {"role": "assistant", "content": "Got it."},
        {"role": "user", "content": "Can you confirm the number you have?"},
    ]
    assert "12345678" in bot(history)
    mon.record(prompt="my account number is 87654321", response="87654321 noted",
               latency_ms=1.0, target="t")
    mon.close()
    text = (logs / "monitoring.jsonl").read_text() + (logs / "monitoring.log").read_text()
    assert "12345678" not in text and "87654321" not in text
    first, second = [json.loads(line) for line in (logs / "monitoring.jsonl").open()]
    assert first["response_redacted"] == "Thanks. <US_BANK_NUMBER> is on file; anything else?"
    assert first["pii_response_types"] == ["US_BANK_NUMBER"]
    assert second["response_redacted"] == "<US_BANK_NUMBER> noted"
