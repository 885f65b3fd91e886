"""Text a chatbot, a case file or a results file controls, made safe to print.

A bot's error body or a rollback reason can hold terminal escapes (`ESC[2J` clears the screen,
an OSC 8 sequence plants a link, a bare CR overwrites the line a reviewer reads) or Unicode that
reorders what is shown (bidi overrides). Everything llmops prints goes through `printable` (or
`one_line`), which turns such characters into visible escapes like `\\u001b` (the JSON form,
so a line of JSON output stays valid JSON with the same meaning); text for a Markdown job
summary goes through `md_text`, which also escapes HTML and Markdown's own syntax, so a
`<img src=...>` from a 4xx body is shown as text, not fetched. The `llmops` command prints
through `SafeStream`, so nothing it prints can carry such characters or a configured secret.
"""

from __future__ import annotations

import html
import io
import re
from typing import Any, TextIO

# C0 controls but tab and newline, DEL, C1 controls; bidi embeddings, overrides and isolates;
# zero-width and invisible formatting characters; line and paragraph separators.
# (A CR is unsafe alone, where it returns to the start of the line; in CRLF it is a line end.)
_UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"
    "\ufff9-\ufffb]|\r(?!\n)"
)
_UNSAFE_OR_NL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]"
)


def _escape(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def printable(text: object) -> str:
    """`text` with control and invisible characters shown as escapes; newlines and tabs kept."""
    s = text if isinstance(text, str) else str(text)
    return _UNSAFE.sub(_escape, s) if _UNSAFE.search(s) else s


def one_line(text: object) -> str:
    """Like `printable`, and newlines and tabs escaped too: one line stays one line."""
    s = text if isinstance(text, str) else str(text)
    return _UNSAFE_OR_NL.sub(_escape, s) if _UNSAFE_OR_NL.search(s) else s


#: What could turn text into markup: code spans, links and images, table cells (`<`, `>`
#: and `&` are escaped as HTML first). Emphasis characters are left alone: cosmetic at worst.
_MD_SPECIAL = re.compile(r"([\\`\[\]|])")


def md_text(text: object) -> str:
    """Text for a Markdown paragraph or list item: HTML escaped, Markdown syntax neutralised,
    one line."""
    s = html.escape(one_line(text), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", s)


def md_cell(text: object) -> str:
    """Text for a Markdown table cell (the same as `md_text`: `|` is escaped there too)."""
    return md_text(text)


class SafeStream(io.TextIOBase):
    """A text stream that passes everything written through `printable` and the secrets
    scrubber on its way to `stream` (the `llmops` command's stdout and stderr)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, s: str) -> int:
        from llmops import scrub

        self._stream.write(scrub.text(printable(s)))
        return len(s)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

