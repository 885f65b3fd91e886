"""OpenAI chat completions answered by a language-model version of the reference chatbot.

`server.create_app` hands the requests of a `backend: llm` version here. The answer is generated
on the engine's worker thread, so the event loop stays free for other requests; with
`stream: true` every piece goes out as a server-sent event as soon as the model writes it (a
guarded version releases redacted sentences, see `llm.StreamGuard`). `usage` holds the model's
token counts, and `finish_reason` is "length" when the answer hit `max_tokens`. A client that
disconnects mid-stream stops the generation at the next token.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import JSONResponse, Response, StreamingResponse

from llmops.chatbot.llm import Generation, LLMResponder


def _finish_reason(done: list[Generation]) -> str:
    return "length" if done and done[0].finish_reason == "length" else "stop"


def _usage(done: list[Generation]) -> dict[str, int]:
    return (done[0] if done else Generation()).usage


async def completion_response(
    llm: LLMResponder, messages: list[dict[str, str]], *, stream: bool, model: str
) -> Response:
    """The chat completion (JSON, or an SSE stream) of `messages`."""
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    if stream:
        return StreamingResponse(
            _events(llm, messages, completion_id, created, model),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )
    done: list[Generation] = []
    answer = await llm.areply(messages, on_done=done.append)
    return JSONResponse({
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": answer},
            "finish_reason": _finish_reason(done),
        }],
        "usage": _usage(done),
    })


async def _events(llm: LLMResponder, messages: list[dict[str, str]], completion_id: str,
                  created: int, model: str) -> AsyncIterator[str]:
    base = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
            "model": model}

    def event(delta: dict[str, str], finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return f"data: {json.dumps({**base, 'choices': [choice], **extra})}\n\n"

    yield event({"role": "assistant", "content": ""})
    done: list[Generation] = []
    async for piece in llm.astream(messages, on_done=done.append):
        yield event({"content": piece})
    yield event({}, _finish_reason(done), usage=_usage(done))
    yield "data: [DONE]\n\n"
