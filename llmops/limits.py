"""Bounds on what a user, a PM or a chatbot controls: `[tool.llmops.limits]`.

Every run must end within its budget, whatever a case file, an answer, a feedback file or a log
line holds. Each bound is a setting with a default that no honest input comes near; input over a
bound costs only itself (a case, an exchange, a record, a line) with a message that names the
setting, so a user who really needs more knows what to raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from llmops.errors import InputError


@dataclass(frozen=True)
class Limits:
    #: Largest answer read from a chatbot (HTTP body, a command's stdout); over it the exchange
    #: is an error of type `too_large` and reading stops.
    max_answer_bytes: int = 1_048_576
    #: Deepest nesting of a case's json_schema, a JSON answer it judges, a feedback record.
    max_json_depth: int = 64
    #: Longest monitoring log line read; a longer one is skipped as a bad line.
    max_log_line_bytes: int = 1_048_576
    #: Seconds a `cmd:` bot's process group gets between SIGTERM and SIGKILL.
    kill_grace_s: float = 2.0
    #: Monitoring events dated further than this into the future are bad lines (clock skew).
    max_future_skew_s: float = 86_400.0
    #: Monitoring events dated before this year are bad lines.
    earliest_event_year: int = 2000
    #: The reference server drops a connection whose request headers take longer than this.
    server_header_timeout_s: float = 10.0
    #: The reference server answers 503 beyond this many open connections and requests.
    server_max_connections: int = 1000

    @classmethod
    def from_table(cls, table: Mapping[str, Any], source: str = "[tool.llmops.limits]") -> Limits:
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key not in known:
                raise InputError(
                    f"{source}: unknown key {key!r} (known: {', '.join(sorted(known))})"
                )
            default = known[key].default
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(f"{source}: {key} must be a number, not {value!r}")
            if value <= 0:
                raise InputError(f"{source}: {key} must be greater than 0, not {value!r}")
            values[key] = int(value) if isinstance(default, int) else float(value)
        return cls(**values)


def json_depth(value: Any, limit: int) -> int:
    """How deeply lists and dicts nest in `value` (a scalar is 0), counted without recursion
    and without looking further than `limit + 1` levels down: the answer for a value nested
    10,000 deep costs as much as for one nested `limit + 1` deep. Level by level, keeping only
    the containers of the next level: a file of 10,000 cases is ~200,000 values, walked in
    every run's start-up."""
    level = [value] if isinstance(value, _CONTAINERS) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return depth
        below: list[Any] = []
        for item in level:
            children = item.values() if isinstance(item, dict) else item
            below += [c for c in children if isinstance(c, _CONTAINERS)]
        level = below
    return depth


_CONTAINERS = (dict, list, tuple)


def too_deep(value: Any, limit: int) -> bool:
    return json_depth(value, limit) > limit
