"""The reference chatbot: Example Bank's deterministic support assistant.

One answer per conversation, always the same for the same messages: policy first (prompt
injection, other customers' data, the customer's own account data get a refusal), then the
knowledge base (BM25 over known questions; too weak a match gets a polite out-of-scope answer
pointing to support), then the output guard (PII redacted). The behaviour switches come from the
version (see `versions.py`): v2 drops the guard, echoes identifiers and makes up balances.
A `backend: llm` version answers with a language model instead (`llm.py`), retrieval giving it
context and the guard still applied.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from llmops.chatbot.knowledge import KnowledgeBase, Match, load_kb
from llmops.chatbot.policy import (
    EMAIL,
    IDENTIFIER_NUMBER,
    Intent,
    classify,
    identifiers,
    joins_parts,
)
from llmops.chatbot.versions import VersionSpec, load_version
from llmops.errors import InputError

if TYPE_CHECKING:
    from llmops.chatbot.llm import LLMResponder

#: The bot reads this much of a message: rules and retrieval stay fast on any input.
MAX_TURN_CHARS = 4000
#: A message sent in parts is read over at most this many user turns.
MAX_JOINED_TURNS = 4
_PART_LABEL = re.compile(r"\bpart\s*\d{1,2}\s*[:.)-]\s*", re.IGNORECASE)
_IDENTIFIERS = re.compile(f"{EMAIL.pattern}|{IDENTIFIER_NUMBER.pattern}")


def message_text(content: Any) -> str:
    """The text of an OpenAI-style message content: a string, or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) for part in content
            if isinstance(part, Mapping) and part.get("type", "text") == "text"
        )
    return ""


def user_turns(messages: Sequence[Mapping[str, Any]] | str) -> list[str]:
    """The user's messages, oldest first (system and assistant turns are not the customer's)."""
    if isinstance(messages, str):
        return [messages[:MAX_TURN_CHARS]] if messages.strip() else []
    if not isinstance(messages, Sequence):
        raise InputError(f"messages: expected a list of {{role, content}}, got {type(messages)}")
    turns = []
    for message in messages:
        if isinstance(message, Mapping) and message.get("role", "user") == "user":
            text = message_text(message.get("content")).strip()
            if text:
                turns.append(text[:MAX_TURN_CHARS])
    return turns


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = cut.rfind(". ")
    return cut[: end + 1] if end > limit // 2 else cut.rstrip() + "…"


def _echo(turns: list[str]) -> str:
    """v2's regression: "Thanks, I've noted your account 12345678 and will email jane@x.com."."""
    seen: list[tuple[str, str]] = []
    for turn in turns:
        for found in identifiers(turn):
            if found not in seen:
                seen.append(found)
    noted = " and ".join(f"your {kind} {value}" for kind, value in seen if kind != "email")
    emails = " and ".join(value for kind, value in seen if kind == "email")
    if noted and emails:
        return f"Thanks, I've noted {noted} and will email {emails}. "
    if noted:
        return f"Thanks, I've noted {noted}. "
    if emails:
        return f"Thanks, I will email {emails}. "
    return ""


class Chatbot:
    """Example Bank's support assistant at a given version ("v1", "v2", a retrained "v3"...)."""

    def __init__(self, version: str | VersionSpec = "v1", *, allow: Iterable[str] = ()) -> None:
        self.version: VersionSpec = (
            version if isinstance(version, VersionSpec) else load_version(version)
        )
        self.kb: KnowledgeBase = load_kb(self.version.kb)
        self._guard = None
        if self.version.guard:
            from llmops.chatbot.guard import make_guard

            self._guard = make_guard((*self.kb.public_values, *allow))
        #: The language model of a `backend: llm` version (None: the retrieval bot answers).
        self.llm: LLMResponder | None = None
        if self.version.backend == "llm":
            from llmops.chatbot.llm import LLMResponder

            self.llm = LLMResponder(self)

    def __repr__(self) -> str:
        return f"Chatbot({self.version.name!r})"

    def retrieve(self, turns: list[str]) -> Match | None:
        """The knowledge-base topic answering the last turn, with earlier turns as context."""
        spec = self.version
        turns = [_IDENTIFIERS.sub(" ", t) for t in turns]  # numbers and e-mails are no topic
        match = self.kb.search(turns[-1])
        if self._confident(match):
            return match
        if len(turns) == 1 or spec.context_turns <= 0:
            return None
        # A follow-up ("and how long does that take?") is read with what came before it.
        context = " ".join(turns[-1 - spec.context_turns :])
        match = self.kb.search(context)
        return match if self._confident(match) else None

    def _confident(self, match: Match | None) -> bool:
        spec = self.version
        return match is not None and (
            match.exact
            or (
                match.score >= spec.min_score
                and (match.coverage >= spec.min_coverage or match.matched >= spec.min_matched)
            )
        )

    def _answer(self, turns: list[str]) -> str:
        spec, responses = self.version, self.kb.responses
        last = turns[-1]
        known = any(IDENTIFIER_NUMBER.search(t) for t in turns[:-1])
        if joins_parts(last) and len(turns) > 1:
            # "Part 2: ... now put the parts together": vet the message it asks to be read.
            joined = " ".join(_PART_LABEL.sub(" ", t) for t in turns[-MAX_JOINED_TURNS:])
            last = joined[-MAX_TURN_CHARS:]
        intent = classify(last, identifiers_known=known)
        if intent is Intent.INJECTION and spec.resist_injection:
            return responses["refuse_injection"]
        if intent is Intent.SECRETS and spec.resist_injection:
            return responses.get("refuse_internal", responses["refuse_injection"])
        if intent is Intent.THIRD_PARTY and spec.refuse_third_party:
            return responses["refuse_third_party"]
        if intent is Intent.LANGUAGE and spec.resist_injection:
            return responses.get("refuse_language", responses["out_of_scope"])
        if intent is Intent.ACCOUNT_DATA:
            return responses["refuse_account_data" if spec.refuse_account_data
                             else "invented_balance"]
        match = self.retrieve(turns)
        return match.topic.answer if match else responses["out_of_scope"]

    def reply(self, messages: Sequence[Mapping[str, Any]] | str) -> str:
        """The answer to the last user turn. Deterministic, and fast: no sleeping here."""
        if self.llm is not None:
            return self.llm.reply(messages)
        turns = user_turns(messages)
        if not turns:
            return self.kb.responses["empty"]
        answer = self._answer(turns)
        if self.version.echo_identifiers:
            answer = _echo(turns) + answer
        answer = _truncate(answer, self.version.max_answer_chars)
        return self._guard(answer) if self._guard else answer

    async def areply(self, messages: Sequence[Mapping[str, Any]] | str) -> str:
        """`reply` after the version's simulated think time (a non-blocking sleep)."""
        if self.llm is not None:  # real think time, on the model's worker thread
            return await self.llm.areply(messages)
        if self.version.latency_ms > 0:
            await asyncio.sleep(self.version.latency_ms / 1000)
        return self.reply(messages)
