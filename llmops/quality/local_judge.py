"""The offline judge: SmolLM2-135M-Instruct through llama.cpp (the `llm` extra), as a raw model.

No system prompt of the reference bot, no knowledge base: the judge's own messages go to the
model in its chat template (ChatML), and the reply is opened for it as `{"verdict": "`. The
model's next-token probabilities of `pass` and `fail` decide (one forward pass over the prompt,
no sampling: deterministic, and cheap enough for a 2-core CI), and the reply is the structured
verdict with those probabilities as its reason. The shared system prompt stays in llama.cpp's
KV cache from one call to the next.

A 135M model is a weak judge: `llmops judge calibrate` says how weak (docs/quality.md). It is the
default judge target, `python:llmops.quality.local_judge:complete`, so `judge:` cases run here
and in CI with nothing downloaded.
"""

from __future__ import annotations

import json
import math
import re
import threading
from typing import Any

N_CTX = 2048
#: What the judge's reply is opened with: the next token is the verdict.
OPENING = '{"verdict": "'
_CONTROL_TOKEN = re.compile(r"<\|([A-Za-z0-9_]{1,32})\|>")

_lock = threading.Lock()
_model: Any = None
_ids: dict[str, int] = {}


def _load() -> Any:
    global _model
    if _model is None:
        from llmops.chatbot.llm import EXTRA_HINT, LLMUnavailable, model_path

        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise LLMUnavailable(f"llama-cpp-python is not installed; {EXTRA_HINT}") from exc
        # one thread: on a shared CPU more threads spin against each other (docs/llm.md)
        _model = Llama(model_path=str(model_path()), n_ctx=N_CTX, n_threads=1,
                       n_threads_batch=1, verbose=False)
        base = _model.tokenize(OPENING.encode(), add_bos=False, special=False)
        for word in ("pass", "fail"):
            full = _model.tokenize((OPENING + word).encode(), add_bos=False, special=False)
            if full[: len(base)] != base or len(full) <= len(base):
                raise RuntimeError(f"the model's tokenizer splits {word!r} unexpectedly")
            _ids[word] = full[len(base)]
    return _model


def chatml(messages: list[dict[str, str]]) -> str:
    """The messages in SmolLM2's chat template, the assistant's reply opened; control tokens
    inside any content are defused so no text can open or close a turn."""
    parts = [f"<|im_start|>{m.get('role', 'user')}\n{_defuse(m.get('content', ''))}<|im_end|>\n"
             for m in messages]
    return "".join(parts) + "<|im_start|>assistant\n" + OPENING


def _defuse(text: str) -> str:
    return _CONTROL_TOKEN.sub(r"<\1>", text)


def p_pass(messages: list[dict[str, str]]) -> float:
    """The model's probability of `pass` against `fail` as the verdict."""
    import numpy as np

    with _lock:  # a llama.cpp model is not thread-safe: one call at a time
        model = _load()
        tokens = model.tokenize(chatml(messages).encode(), add_bos=False, special=True)
        if len(tokens) >= N_CTX:  # keep the template's head and the opened reply
            tokens = tokens[: N_CTX // 2] + tokens[-(N_CTX // 2 - 8):]
        # reuse the KV cache of the longest common prefix (the system prompt)
        seen = model.input_ids[: model.n_tokens]
        prefix = 0
        for a, b in zip(seen, tokens[:-1], strict=False):
            if a != b:
                break
            prefix += 1
        model.n_tokens = prefix
        model.eval(tokens[prefix:])
        logits = np.ctypeslib.as_array(model._ctx.get_logits(), shape=(model.n_vocab(),))
        lp, lf = float(logits[_ids["pass"]]), float(logits[_ids["fail"]])
    return 1.0 / (1.0 + math.exp(lf - lp))


def complete(messages: list[dict[str, str]]) -> str:
    """The judge's reply: the structured verdict, its reason the two probabilities."""
    p = p_pass(messages)
    verdict = "pass" if p >= 0.5 else "fail"
    reason = f"SmolLM2-135M local judge: p(pass) {p:.2f}, p(fail) {1 - p:.2f}"
    return json.dumps({"verdict": verdict, "reason": reason})
