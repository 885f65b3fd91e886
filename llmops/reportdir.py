"""The reports directory of one eval run: locked for the run, emptied of the last run's evidence
at the start, filled at the end.

- One run at a time: the directory is locked (`filelock`, `.llmops.lock`) from the start of the
  run to its end; a second run on the same directory stops at once with a message naming the
  first (its pid and start time), instead of both writing and the last writer silently winning.
- Fail closed: a run that starts removes the previous results, JUnit and HTML report first, so a
  run that is killed (even by SIGKILL), aborted, or asks nothing leaves no results for the gate to
  accept; the gate then finds none and fails closed.
- A consistent set: files are written beside their final name and moved into place at the end,
  results.json last, so a reader sees the new set or no results at all.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from filelock import FileLock, Timeout

from llmops.errors import InputError
from llmops.fileio import write_atomic

LOCK = ".llmops.lock"
OWNER = ".llmops.lock.owner"
#: The files one run publishes (besides results.json, whose path may be set apart).
PUBLISHED = ("report.html", "junit.xml")


class ReportsBusy(InputError):
    """Another eval run holds the reports directory."""


class ReportsDir:
    def __init__(self, directory: Path, results: Path) -> None:
        self.directory = directory
        self.results = results
        self._lock: FileLock | None = None
        #: Why the directory cannot be written, when it cannot (the run goes on without it).
        self.error: str | None = None

    def open(self, started_at: str) -> None:
        """Lock the directory and remove the last run's evidence; `ReportsBusy` if another run
        holds it. An unwritable directory is no error here: `error` says why, and the run goes
        on to write what it can elsewhere (feedback)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(self.directory / LOCK), timeout=0)
            lock.acquire()
        except Timeout:
            raise ReportsBusy(
                f"{self.directory}: another eval run is writing these reports ({self.owner()}); "
                "wait for it, or give this run its own directory with --reports DIR"
            ) from None
        except OSError as exc:
            self.error = f"{self.directory}: cannot write reports: {exc.strerror or exc}"
            return
        self._lock = lock
        try:
            write_atomic(self.directory / OWNER,
                         json.dumps({"pid": os.getpid(), "started_at": started_at}) + "\n")
            for path in (self.results, *(self.directory / n for n in PUBLISHED)):
                path.unlink(missing_ok=True)
        except OSError as exc:
            self.error = f"{self.directory}: cannot write reports: {exc.strerror or exc}"

    @property
    def writable(self) -> bool:
        return self._lock is not None and self.error is None

    def staged(self, name: str) -> Path:
        """Where a file of this run is written before it is published."""
        return self.directory / f".{name}.{os.getpid()}.partial"

    def publish(self, name: str) -> None:
        staged = self.staged(name)
        if staged.exists():
            os.replace(staged, self.directory / name)

    def discard(self) -> None:
        for name in PUBLISHED:
            self.staged(name).unlink(missing_ok=True)

    def owner(self) -> str:
        try:
            info = json.loads((self.directory / OWNER).read_text(encoding="utf-8"))
            return f"pid {int(info['pid'])}, started {str(info['started_at'])[:40]}"
        except (OSError, ValueError, KeyError, TypeError):
            return "owner unknown"

    def close(self) -> None:
        self.discard()
        if self._lock is not None:
            with contextlib.suppress(OSError):
                (self.directory / OWNER).unlink(missing_ok=True)
            self._lock.release()
            self._lock = None


def busy(directory: Path) -> str | None:
    """Who holds `directory`'s lock now, or None: for the gate's "no results" message."""
    lock = FileLock(str(directory / LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return ReportsDir(directory, directory / "results.json").owner()
    except OSError:
        return None
    lock.release()
    return None
