"""A recognizer's proposal, before overlaps are resolved and the threshold applied."""

from __future__ import annotations


class Hit:
    """A plain class, not a dataclass: compiled, its constructor is native (a dataclass keeps a
    generated Python `__init__`, five times slower), and the detector makes several per text."""

    __slots__ = ("end", "norm", "score", "start", "type")

    def __init__(
        self, type: str, start: int, end: int, score: float, norm: str | None = None
    ) -> None:
        self.type = type
        self.start = start
        self.end = end
        self.score = score
        self.norm = norm  # a normal form for the allowlist (E.164 for a phone), if known

    def __repr__(self) -> str:
        return f"Hit({self.type!r}, {self.start}, {self.end}, {self.score})"
