"""The reference server's OpenAI API, as the official `openai` client sees it (issue 13 item 8):
unknown models are 404 `model_not_found`, `max_tokens` and `stop` are honoured with the right
`finish_reason`, `/v1/models/{id}` exists, and every error is a JSON `error` object."""

from __future__ import annotations

import httpx
import pytest

openai = pytest.importorskip("openai")  # installed with the llm extra (through `llm`)

QUESTION = [{"role": "user", "content": "When are your branches open?"}]


@pytest.fixture
def client(chatbot_server):
    url = chatbot_server("v1")
    with openai.OpenAI(base_url=url, api_key="not-needed", max_retries=0) as c:
        yield c, url


def test_an_unknown_model_is_a_404_not_an_echo(client) -> None:
    c, _ = client
    with pytest.raises(openai.NotFoundError) as info:
        c.chat.completions.create(model="gpt-4o", messages=QUESTION)
    assert info.value.status_code == 404
    assert info.value.code == "model_not_found"
    assert "gpt-4o" in info.value.message
    ok = c.chat.completions.create(model="v1", messages=QUESTION)
    assert ok.model == "v1" and ok.choices[0].message.content


def test_max_tokens_cuts_the_answer_and_says_length(client) -> None:
    c, _ = client
    full = c.chat.completions.create(model="v1", messages=QUESTION)
    assert full.choices[0].finish_reason == "stop" and full.usage.completion_tokens > 5
    short = c.chat.completions.create(model="v1", messages=QUESTION, max_tokens=5)
    assert short.usage.completion_tokens == 5
    assert short.choices[0].finish_reason == "length"
    assert full.choices[0].message.content.startswith(short.choices[0].message.content)
    newer = c.chat.completions.create(model="v1", messages=QUESTION, max_completion_tokens=3)
    assert newer.usage.completion_tokens == 3 and newer.choices[0].finish_reason == "length"


def test_max_tokens_when_streaming(client) -> None:
    c, _ = client
    chunks = list(c.chat.completions.create(model="v1", messages=QUESTION, max_tokens=4,
                                            stream=True))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert chunks[-1].choices[0].finish_reason == "length"
    assert 0 < len(text.split()) <= 4


def test_stop_sequences_end_the_answer(client) -> None:
    c, _ = client
    full = c.chat.completions.create(model="v1", messages=QUESTION).choices[0].message.content
    word = full.split()[3]
    cut = c.chat.completions.create(model="v1", messages=QUESTION, stop=[word])
    assert cut.choices[0].message.content == full[: full.index(word)]
    assert cut.choices[0].finish_reason == "stop"


def test_bad_parameters_are_400_naming_the_parameter(client) -> None:
    c, _ = client
    for kwargs, param in (({"max_tokens": 0}, "max_tokens"), ({"temperature": 5}, "temperature"),
                          ({"stop": ["a", "b", "c", "d", "e"]}, "stop")):
        with pytest.raises(openai.BadRequestError) as info:
            c.chat.completions.create(model="v1", messages=QUESTION, **kwargs)
        assert info.value.body["param"] == param, kwargs


def test_models_by_id_and_json_errors_everywhere(client) -> None:
    c, url = client
    assert c.models.retrieve("v1").id == "v1"
    assert [m.id for m in c.models.list()] == ["v1"]
    with pytest.raises(openai.NotFoundError) as info:
        c.models.retrieve("gpt-4o")
    assert info.value.code == "model_not_found"
    for method, path in (("GET", "/models/v1/extra"), ("GET", "/nothing"),
                         ("DELETE", "/chat/completions")):
        r = httpx.request(method, url + path, timeout=10)
        assert r.status_code in (404, 405), path
        assert r.headers["content-type"].startswith("application/json"), path
        assert r.json()["error"]["message"], path
