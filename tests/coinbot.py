"""A chatbot whose cases pass with known probabilities: an OpenAI-compatible server for 127.0.0.1.

Asked `coin <name> p=<P>`, it answers "heads" with probability P and "tails" otherwise; a case
that expects `contains: heads` therefore passes with probability P. The k-th ask of a prompt
draws from `random.Random(f"{seed}|{prompt}|{k}")`, so a run's outcomes per case do not depend on
the order in which concurrent requests arrive: a seed replays a run exactly.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

PROB = re.compile(r"p=([0-9.]+)")


def coin_app(seed: int = 0, rates: dict[str, float] | None = None) -> Starlette:
    """`rates` (prompt name -> P) overrides the P written in a prompt: the same cases can then
    be asked of a changed bot. `app.state.asked` counts requests per prompt."""
    asked: Counter[str] = Counter()
    lock = threading.Lock()

    async def completions(request: Request) -> JSONResponse:
        body = await request.json()
        prompt = str(body["messages"][-1]["content"])
        with lock:
            asked[prompt] += 1
            k = asked[prompt]
        name = prompt.split()[1] if len(prompt.split()) > 1 else prompt
        found = PROB.search(prompt)
        p = (rates or {}).get(name, float(found.group(1)) if found else 1.0)
        heads = random.Random(f"{seed}|{prompt}|{k}").random() < p
        return JSONResponse(_completion("heads" if heads else "tails", body.get("model")))

    async def models(request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": "coin", "object": "model"}]})

    app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"]),
                            Route("/v1/models", models, methods=["GET"])])
    app.state.asked = asked
    return app


def _completion(text: str, model: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-coin",
        "object": "chat.completion",
        "created": 0,
        "model": model or "coin",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def coin_cases(rates: dict[str, float], **case_keys: Any) -> str:
    """A case file: one case per name, `coin <name> p=<P>`, expecting "heads" (only the content
    check and not_empty: latency and PII checks would only add noise-free rows)."""
    lines = ["suite: coins", "defaults:",
             "  expect: {no_pii: false, no_financial_details: false, max_latency_ms: 60000}",
             "cases:"]
    for name, p in rates.items():
        lines.append(f"  - id: {name}")
        lines.append(f"    prompt: 'coin {name} p={p}'")
        for key, value in case_keys.items():
            lines.append(f"    {key}: {value}")
        lines.append("    expect: {contains: heads}")
    return "\n".join(lines) + "\n"
