"""Generation settings sent to an OpenAI-compatible target with every chat completion:
`[tool.llmops.generation]` in the configuration, `generation:` in a case (or a file's
`defaults:`), the case's keys over the configuration's, key by key.

Without them a model server writes until its context is full (llama.cpp's server has no default
answer length), so an eval run sends a bounded `max_tokens` unless told otherwise. Temperature and
seed are the server's own unless set: an eval of a deployed bot should see its answers as users
do, and repeated samples (`--repeat`) are only worth taking if they may differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from llmops.errors import InputError

#: Request fields the HTTP target sets itself: an `extra_body` may not override them (and the
#: named settings go by their own keys, so that the case's override of them is the one sent).
RESERVED = frozenset({"model", "messages", "stream", "stream_options", "n",
                      "max_tokens", "temperature", "seed", "stop"})

#: The default bound on an answer's length, in tokens (`max_tokens = 0`: none is sent): about
#: 190 words, more than a support answer needs, and lm-evaluation-harness's default for generated
#: answers. SmolLM2-135M on two busy cores writes 13-15 tokens/s: 256 fit in the 30 s timeout.
DEFAULT_MAX_TOKENS = 256

#: Keys of a case's `generation:` (the configuration also has `stream`).
CASE_KEYS = ("max_tokens", "temperature", "seed", "stop", "extra_body")


@dataclass(frozen=True)
class Generation:
    #: Longest answer, in tokens; 0: none sent (the server's own limit).
    max_tokens: int = DEFAULT_MAX_TOKENS
    #: Sampling temperature (0 to 2); None: the server's default.
    temperature: float | None = None
    #: Sampling seed, for servers that honour one; None: not sent.
    seed: int | None = None
    #: Sequences that end the answer; () : none.
    stop: tuple[str, ...] = ()
    #: Further request fields, sent as they are (`top_p`, `top_k`, `response_format`, ...).
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    #: Ask for the answer as server-sent events: the time to the first token is measured, and
    #: closing an abandoned request stops the server's generation (llama.cpp's server stops
    #: only a streamed one). False: one JSON body.
    stream: bool = True

    @classmethod
    def from_table(cls, table: Mapping[str, Any], source: str = "[tool.llmops.generation]"
                   ) -> Generation:
        """The configuration's settings; InputError naming the key for a bad one."""
        known = [f.name for f in fields(cls)]
        for key in table:
            if key not in known:
                raise InputError(f"{source}: unknown key {key!r} (known: {', '.join(known)})")
        values = _checked(table, source)
        if "stream" in table:
            if not isinstance(table["stream"], bool):
                raise InputError(f"{source}: stream must be true or false, not "
                                 f"{table['stream']!r}")
            values["stream"] = table["stream"]
        return cls(**values)

    def merged(self, case: Mapping[str, Any] | None) -> Generation:
        """These settings with a case's `generation:` over them (its extra_body key by key)."""
        if not case:
            return self
        values = _checked(case, "generation")  # validated by the case schema already
        if "extra_body" in values:
            values["extra_body"] = {**self.extra_body, **values["extra_body"]}
        from dataclasses import replace

        return replace(self, **values)

    def body(self) -> dict[str, Any]:
        """The request fields these settings add to a chat completion."""
        out: dict[str, Any] = dict(self.extra_body)
        if self.max_tokens:
            out["max_tokens"] = self.max_tokens
        if self.temperature is not None:
            out["temperature"] = self.temperature
        if self.seed is not None:
            out["seed"] = self.seed
        if self.stop:
            out["stop"] = list(self.stop)
        return out

    def record(self) -> dict[str, Any]:
        """What results.json keeps of these settings: the fields sent, and whether streamed."""
        return {**self.body(), "stream": self.stream}


def _checked(table: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The named settings of `table`, typed; InputError for a value no server would take."""
    out: dict[str, Any] = {}
    if "max_tokens" in table:
        v = table["max_tokens"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InputError(f"{source}: max_tokens must be an integer >= 0 (0: none sent), "
                             f"not {v!r}")
        out["max_tokens"] = v
    if "temperature" in table:
        v = table["temperature"]
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 2:
            raise InputError(f"{source}: temperature must be a number from 0 to 2, not {v!r}")
        out["temperature"] = float(v)
    if "seed" in table:
        v = table["seed"]
        if isinstance(v, bool) or not isinstance(v, int):
            raise InputError(f"{source}: seed must be an integer, not {v!r}")
        out["seed"] = v
    if "stop" in table:
        v = table["stop"]
        stops = [v] if isinstance(v, str) else v
        if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
            raise InputError(f"{source}: stop must be a string or a list of non-empty strings, "
                             f"not {v!r}")
        out["stop"] = tuple(stops)
    if "extra_body" in table:
        v = table["extra_body"]
        if not isinstance(v, Mapping):
            raise InputError(f"{source}: extra_body must be a table of request fields, not {v!r}")
        taken = sorted(k for k in v if k in RESERVED)
        if taken:
            raise InputError(f"{source}: extra_body may not set {taken[0]!r} (llmops sets it"
                             + (", or use the key of its own" if taken[0] in CASE_KEYS else "")
                             + ")")
        out["extra_body"] = dict(v)
    return out
