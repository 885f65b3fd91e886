"""The two monitoring logs, appended line by line and rotated by size.

Each line goes out in one `write` on a descriptor opened with O_APPEND, so lines never interleave,
not even with another process appending to the same file. A lock makes the write and the rotation
one step for threads (and for coroutines, which never await while holding it). The stdlib's
RotatingFileHandler would format every record twice and report every failure; here a failure
is raised to the caller, which reports it once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llmops.monitoring.events import to_json_line, to_text_line

JSONL_NAME = "monitoring.jsonl"
TEXT_NAME = "monitoring.log"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUPS = 5


class RotatingFile:
    """An append-only file that becomes `name.1` (older ones `name.2`...) when it would pass
    `max_bytes`; at most `backups` old files are kept (0: the file is emptied instead)."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES, backups: int = 5) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = max(0, backups)
        self._fd: int | None = None
        self._ino = -1

    def write(self, data: bytes) -> None:
        if self._fd is None:
            self._open()
        # One stat a write: the true size (other processes append too) and whether someone
        # else rotated the file from under us, in which case we follow to the new one.
        try:
            st = os.stat(self.path)
            size = st.st_size if st.st_ino == self._ino else None
        except FileNotFoundError:
            size = None
        if size is None:
            self._open()
            size = os.fstat(self._fd).st_size  # type: ignore[arg-type]
        if self.max_bytes > 0 and size > 0 and size + len(data) > self.max_bytes:
            self._rotate()
        view = memoryview(data)
        while view:  # a regular file takes all at once; loop anyway for a short write
            n = os.write(self._fd, view)  # type: ignore[arg-type]
            view = view[n:]

    def _open(self) -> None:
        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._ino = os.fstat(self._fd).st_ino

    def _rotate(self) -> None:
        self.close()
        if self.backups == 0:
            os.truncate(self.path, 0)
        else:
            for i in range(self.backups - 1, 0, -1):
                older = self.backup_path(i)
                if older.exists():
                    os.replace(older, self.backup_path(i + 1))
            os.replace(self.path, self.backup_path(1))
        self._open()

    def backup_path(self, i: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{i}")

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


class EventLog:
    """`monitoring.jsonl` (for machines) and `monitoring.log` (for people) in one directory."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        backups: int = DEFAULT_BACKUPS,
    ) -> None:
        self.directory = Path(directory)
        self.jsonl = RotatingFile(self.directory / JSONL_NAME, max_bytes, backups)
        self.text = RotatingFile(self.directory / TEXT_NAME, max_bytes, backups)
        self._lock = threading.Lock()

    def write(self, event: Mapping[str, Any]) -> None:
        """Append the event to both logs; raises OSError when the logs cannot be written."""
        machine = to_json_line(event).encode()
        human = to_text_line(event).encode()
        with self._lock:
            self.jsonl.write(machine)
            self.text.write(human)

    def close(self) -> None:
        with self._lock:
            self.jsonl.close()
            self.text.close()
