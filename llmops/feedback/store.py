"""The feedback store: one JSON object a line in `feedback/feedback.jsonl`.

Every write, an append as much as a status update, happens under a lock file (`filelock`, so two
processes importing at once both land) and replaces the whole file: the new content goes to a
temporary file in the same directory, is fsynced, and is moved over the old file with
`os.replace`. A reader (which takes no lock) sees the old file or the new one, never a half-written
line, and a crash at any moment, SIGKILL included, leaves the previous complete file; the next
writer removes the orphaned temporary file. We chose this over appending lines in place because
an append must read every stored id anyway (no duplicates), so rewriting costs the same order, and
the file stays valid JSONL for any strict reader (pandas, jq) without a repair step.

Lines that do not parse (a hand edit gone wrong) are reported as `file:line: why` and kept verbatim
on rewrite: the store never drops what it cannot read.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops.errors import InputError
from llmops.fileio import write_atomic

LOCK_TIMEOUT_S = 120.0


@dataclass
class Snapshot:
    """The store as read: parsed records, raw lines (for a faithful rewrite), problems."""

    records: list[dict[str, Any]] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: index into `lines` of each record, same order as `records`
    line_of: list[int] = field(default_factory=list)


@dataclass
class AppendResult:
    added: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


class FeedbackStore:
    def __init__(self, path: str | os.PathLike[str], *, lock_timeout: float = LOCK_TIMEOUT_S):
        from filelock import FileLock

        self.path = Path(path)
        self._lock = FileLock(f"{self.path}.lock", timeout=lock_timeout)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's lock (re-entrant within one process and thread)."""
        from filelock import Timeout

        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout as exc:
            raise InputError(
                f"{self.path}: locked by another process for over {self._lock.timeout:g} s "
                f"(remove {self._lock.lock_file} if no llmops process is running)"
            ) from exc
        try:
            yield
        finally:
            self._lock.release()

    def _raw_lines(self) -> list[bytes]:
        """The file's lines, each ending in a newline."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        return [raw if raw.endswith(b"\n") else raw + b"\n" for raw in data.splitlines(True)]

    def read(self) -> Snapshot:
        snap = Snapshot()
        for n, line in enumerate(self._raw_lines(), 1):
            snap.lines.append(line)
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                snap.problems.append(f"{self.path}:{n}: not a JSON line ({_why(exc)})")
                continue
            if not isinstance(rec, dict) or not isinstance(rec.get("id"), str):
                snap.problems.append(f"{self.path}:{n}: not a feedback record (no id)")
                continue
            snap.records.append(rec)
            snap.line_of.append(len(snap.lines) - 1)
        return snap

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.read().records)

    def append(self, records: Iterable[Mapping[str, Any]]) -> AppendResult:
        """Store each record whose id is not stored yet (nor earlier in `records`)."""
        result = AppendResult()
        records = list(records)
        if not records:
            return result
        with self.locked():
            lines = self._raw_lines()
            seen = {i for i in map(_line_id, lines) if i is not None}
            new_lines = []
            for rec in records:
                if rec["id"] in seen:
                    result.duplicates.append(rec["id"])
                    continue
                seen.add(rec["id"])
                result.added.append(dict(rec))
                new_lines.append(encode(rec))
            if new_lines:
                self._write([*lines, *new_lines])
        return result

    def update(self, changes: Mapping[str, Mapping[str, Any]]) -> int:
        """Apply `{id: {field: value}}` to stored records (a None value drops the field);
        returns how many records changed."""
        if not changes:
            return 0
        with self.locked():
            snap = self.read()
            lines = list(snap.lines)
            changed = 0
            for rec, i in zip(snap.records, snap.line_of, strict=True):
                patch = changes.get(rec["id"])
                if not patch:
                    continue
                new = {k: v for k, v in {**rec, **patch}.items() if v is not None or k not in patch}
                if new != rec:
                    lines[i] = encode(new)
                    changed += 1
            if changed:
                self._write(lines)
        return changed

    def _write(self, lines: list[bytes]) -> None:
        """Replace the file atomically; the caller holds the lock."""
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):  # left by a killed writer
            with contextlib.suppress(OSError):
                stale.unlink()
        write_atomic(self.path, b"".join(lines), fsync_dir=True)


# We write the id first; its pattern needs no JSON escapes. So an append, which needs only the
# stored ids, reads them without parsing whole records (10x faster on a big store).
_ID_FIRST = re.compile(rb'\{"id": "([A-Za-z0-9._:-]+)",')


def _line_id(line: bytes) -> str | None:
    m = _ID_FIRST.match(line)
    if m:
        return m.group(1).decode()
    try:
        rec = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return rec.get("id") if isinstance(rec, dict) and isinstance(rec.get("id"), str) else None


def encode(record: Mapping[str, Any]) -> bytes:
    from llmops import scrub

    # Every field loses the configured secrets by value, whatever wrote the record.
    return (json.dumps(scrub.deep(dict(record)), ensure_ascii=False) + "\n").encode()


def _why(exc: Exception) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
