"""Errors shared across llmops. `InputError` is bad input from a user: exit code 2."""

from __future__ import annotations


class InputError(Exception):
    """Bad input or usage; the message reads `file:line: why` where a file is involved."""


def where(path: object, line: int | None) -> str:
    """`file:line` (or just `file`) for messages that point a user at their input."""
    return f"{path}:{line}" if line else str(path)
