"""junit.xml written as the checks finish, not held to the end.

pytest's JUnit writer (`_pytest.junitxml.LogXML`) keeps an XML element for every test case
until the session ends and then builds the whole document as one string: at 50,000 checks that
was 127 MB of a run's peak memory. `StreamingLogXML` is pytest's writer with two methods
replaced: each finished test case is serialized to a temporary file beside the report and
freed, and at the end of the session pytest's own code writes the document around a marker (the
header's counts are known only then), into which the streamed test cases are copied. What a test
case holds, its attributes, properties, failure and skip elements, the families and the counts
stay pytest's own code, so the file is the one pytest writes, test case for test case.

It is used for llmops' default junit.xml; a user's `--junitxml` gets pytest's own writer. Where
pytest's internals are not the ones this was written against, `make` returns None and pytest's
own writer is used.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from typing import IO, Any

import pytest

try:
    from _pytest import junitxml as _junitxml
except ImportError:  # pragma: no cover - pytest without its JUnit plugin module
    _junitxml = None  # type: ignore[assignment]

_NEEDED = ("node_reporters", "node_reporters_ordered", "logfile", "pytest_sessionfinish")


def make(config: pytest.Config, path: str) -> Any | None:
    """A streaming writer of `path` configured as pytest's own would be, or None when pytest's
    JUnit internals differ from what it relies on (then pytest's own writer is the fallback)."""
    if _junitxml is None or not hasattr(_junitxml, "xml_key"):
        return None
    try:
        xml = StreamingLogXML(
            path,
            config.option.junitprefix,
            config.getini("junit_suite_name"),
            config.getini("junit_logging"),
            config.getini("junit_duration_report"),
            config.getini("junit_family"),
            config.getini("junit_log_passing_tests"),
        )
    except (TypeError, ValueError, AttributeError):
        return None
    if not all(hasattr(xml, name) for name in _NEEDED):
        xml.close()
        return None
    return xml


class StreamingLogXML(_junitxml.LogXML if _junitxml else object):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._body: IO[str] | None = None
        #: finished test cases not written yet: serialized in batches, one `tostring` for many
        self._batch = ET.Element("batch")
        #: ids of the test cases still open when the first one was streamed (collection errors):
        #: pytest writes them before the rest, and so do we
        self._head: set[int] | None = None

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def finalize(self, report: Any) -> None:
        # The reporters open before pytest closes one (usually just that one): whichever of them
        # `finalize` pops is finished, and goes to the body.
        before = list(self.node_reporters.values())
        super().finalize(report)
        if not before:
            return
        still = {id(r) for r in self.node_reporters.values()}
        for reporter in before:
            if id(reporter) not in still:
                self._stream(reporter)

    def _stream(self, reporter: Any) -> None:
        ordered = self.node_reporters_ordered
        if self._head is None:
            self._head = {id(r) for r in ordered if r is not reporter}
        if self._body is None:
            directory = os.path.dirname(self.logfile)
            os.makedirs(directory, exist_ok=True)
            self._body = tempfile.TemporaryFile(  # noqa: SIM115 - open until the session ends
                "w+", encoding="utf-8", errors="backslashreplace", dir=directory,
                prefix=".junit-body.")
        self._batch.append(reporter.to_xml())
        if len(self._batch) >= _BATCH:
            self._flush()
        # The one just finished is almost always the last one opened.
        if ordered and ordered[-1] is reporter:
            ordered.pop()
        else:
            ordered.remove(reporter)

    def _flush(self) -> None:
        if len(self._batch) and self._body is not None:
            text = ET.tostring(self._batch, encoding="unicode")
            self._body.write(text[len("<batch>"):-len("</batch>")])
            self._batch = ET.Element("batch")

    def pytest_sessionfinish(self) -> None:
        # pytest's own code writes the frame (header, counts, global properties, the test cases
        # not streamed) around a marker element, into a file of its own; the final file is that
        # frame with the streamed body in the marker's place. Any pytest version's header.
        head = self._head or set()
        ordered = self.node_reporters_ordered
        ordered[:] = ([r for r in ordered if id(r) in head] + [_Marker()]
                      + [r for r in ordered if id(r) not in head])
        final = self.logfile
        directory = os.path.dirname(os.path.abspath(final))
        os.makedirs(directory, exist_ok=True)
        fd, frame = tempfile.mkstemp(dir=directory, prefix=".junit-frame.")
        os.close(fd)
        try:
            self.logfile = frame
            super().pytest_sessionfinish()
            with open(frame, encoding="utf-8") as f:
                opening, closing = f.read().split(_MARK, 1)
            with open(final, "w", encoding="utf-8", errors="backslashreplace") as out:
                out.write(opening)
                self._flush()
                if self._body is not None:
                    self._body.flush()
                    self._body.seek(0)
                    shutil.copyfileobj(self._body, out, 1 << 20)
                out.write(closing)
        finally:
            self.logfile = final
            os.unlink(frame)
            self.close()


class _Marker:
    """Stands where the streamed test cases go in the frame pytest writes."""

    def to_xml(self) -> ET.Element:
        return ET.Element(_TAG)


_TAG = "llmops-streamed-testcases"
_BATCH = 512
_MARK = f"<{_TAG} />"
