"""A recognizer's proposal, before overlaps are resolved and the threshold applied."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Hit:
    type: str
    start: int
    end: int
    score: float
    norm: str | None = None  # a normal form for the allowlist (E.164 for a phone), if known
