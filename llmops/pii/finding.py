"""A finding: where a detected value sits, never the value itself."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    type: str  # entity type, e.g. "EMAIL_ADDRESS"
    start: int  # character offsets into the scanned text
    end: int
    score: float

    def to_dict(self) -> dict[str, object]:
        """What may be stored: type, offsets and score; the matched text stays out on purpose."""
        return {"type": self.type, "start": self.start, "end": self.end, "score": self.score}
