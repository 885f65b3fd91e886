"""Text as the detector reads it: what a writer can do to a value without changing what a reader
sees (or copies) is undone first, and every character of the result remembers where it came from.

- Each non-ASCII character by itself: NFKC (fullwidth and mathematical digits, "＠", "﹫", "．",
  ideographic and other spaces), decimal digits of any script to ASCII (Arabic-Indic,
  Devanagari, ...), dashes and the minus sign to "-", "。" to ".", and invisible format
  characters dropped (zero-width space and joiners, word joiner, soft hyphen, BOM, bidi marks).
- Markup: HTML tags and markdown emphasis (`*`, `` ` ``, `~`, `__`) dropped, so
  "4111 **1111** 1111 1111" and "<b>4111</b> 1111 ..." read as one number; HTML character
  references and "%40" decoded.
- Separators a number can be split by: a tab, an underscore, a line break between two groups of
  digits ("4111\n1111\n...", but not a postcode and then a phone number on the next line).
- E-mail look-alikes: spaces around "@" ("jane @ example.com"), "jane at example dot com",
  "jane [at] example [dot] com".
- Digits spelled out as words, six or more in a row ("four one one one ...").

`normalize` returns None for text it would not change, the common case, after one regex search
(plus, for text that is not ASCII, a dict lookup per non-ASCII character). Otherwise a `Normal`:
the text and, for each of its characters, the span of the original it stands for, so that a
finding maps back to the original characters, those the normaliser dropped inside it included.

Every pattern here starts with a literal or a class and has bounded repetition, and each edit is
found in one left-to-right pass: linear in the text.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

# Non-ASCII characters with a replacement (memoised: a text repeats its characters).
_CHAR_CACHE: dict[str, str] = {}
_DASHES: Final = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d\u2043")
_FULL_STOPS: Final = frozenset("\u3002\uff61\ufe12")
_NON_ASCII: Final = re.compile(r"[^\x00-\x7f]")


def char_map(c: str) -> str:
    """What the non-ASCII character `c` reads as (itself if nothing)."""
    got = _CHAR_CACHE.get(c)
    if got is not None:
        return got
    if unicodedata.category(c) == "Cf":
        out = ""
    elif c in _DASHES:
        out = "-"
    elif c in _FULL_STOPS:
        out = "."
    else:
        d = unicodedata.decimal(c, -1)
        if d >= 0:
            out = str(d)
        else:
            out = unicodedata.normalize("NFKC", c)
            if len(out) == 1 and out != c:
                out = char_map(out) if not out.isascii() else out  # "‐" (from U+2011) to "-"
            if out.isspace() and out != "\n":
                out = " "
    if len(_CHAR_CACHE) < 4096:
        _CHAR_CACHE[c] = out
    return out


# --- ASCII-level edits, one pass of one pattern -----------------------------------------------

_ENTITIES: Final = {
    "commat": "@",
    "period": ".",
    "nbsp": " ",
    "hyphen": "-",
    "dash": "-",
    "minus": "-",
    "plus": "+",
    "lpar": "(",
    "rpar": ")",
    "amp": "&",
    "num": "#",
}
_EDIT: Final = re.compile(
    r"</?[A-Za-z][A-Za-z0-9]{0,15}(?:[ \n][^<>]{0,200})?/?>"  # a tag
    r"|\*\**|``*|~~*|__*"  # emphasis, or one underscore (decided by its neighbours)
    r"|\t"
    r"|&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z]{2,6});"  # a character reference
    r"|%40"
    r"|@ {0,3}"
)  # No groups, and every branch starts on a literal: the engine then skips in C to the
# positions where one of those characters stands (a class or a group at the start of a
# branch makes it try the whole pattern at every position, 10x slower here).

# "jane at example dot com", "jane [at] example [dot] com", "jane(at)example(dot)com".
_AT_WORD: Final = re.compile(
    r"[ ]{0,3}[\[({<][ ]{0,3}at[ ]{0,3}[\])}>][ ]{0,3}|[ ]{1,3}at[ ]{1,3}", re.IGNORECASE
)
_SPELLED_DOMAIN: Final = re.compile(
    r"[^\W_][\w-]{0,62}"
    r"(?:(?:[ ]{0,3}[\[({<][ ]{0,3}dot[ ]{0,3}[\])}>][ ]{0,3}|[ ]{1,3}dot[ ]{1,3}|\.)"
    r"[^\W_][\w-]{0,62}){1,4}(?![\w-])",
    re.IGNORECASE,
)
_DOT_WORD: Final = re.compile(
    r"[ ]{0,3}[\[({<][ ]{0,3}dot[ ]{0,3}[\])}>][ ]{0,3}|[ ]{1,3}dot[ ]{1,3}", re.IGNORECASE
)
_LOCAL_REVERSED: Final = re.compile(r"[\w.+-]{1,64}")

# "four one one one ...": six or more digit words in a row.
_DIGIT_WORDS: Final = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_WORD_ALT: Final = "zero|oh|one|two|three|four|five|six|seven|eight|nine"
_SPELLED_DIGITS: Final = re.compile(
    rf"\b(?:{_WORD_ALT})(?:[ ,-]{{1,3}}(?:{_WORD_ALT})){{5,47}}\b", re.IGNORECASE
)
_DIGIT_WORD: Final = re.compile(rf"(?:{_WORD_ALT})", re.IGNORECASE)
# Counted in a text before the spelled-out pattern runs ("oh" is too common a syllable; a run of
# six has at least one other word).
_HINT_WORDS: Final = tuple(w for w in _DIGIT_WORDS if w != "oh")
# Characters that start an edit of `_EDIT` other than a line break (tested with `in`, which is
# a memchr in C: most texts have none of them, and then `_EDIT` does not run at all).
_TRIGGERS: Final = ("<", "*", "`", "~", "_", "\t", "&", "%", " @", "@ ")
# A line break before a digit, for `_split_edits`.
_BREAK_DIGIT: Final = re.compile(r"\n[ \t]{0,3}[0-9]")

Edit = tuple[int, int, str]  # replace text[start:end] by the string


class Normal:
    """A normalised text and, for each of its characters, the original span it stands for."""

    __slots__ = ("ends", "starts", "text")

    def __init__(self, text: str, starts: list[int], ends: list[int]) -> None:
        self.text = text
        self.starts = starts
        self.ends = ends

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the normalised text[start:end] (end > start)."""
        return self.starts[start], self.ends[end - 1]


def normalize(text: str) -> Normal | None:
    """The text as the detector should read it, or None when that is the text itself."""
    first: Normal | None = None
    work = text
    if not text.isascii():
        edits: list[Edit] = []
        for m in _NON_ASCII.finditer(text):
            c = m.group()
            r = char_map(c)
            if r != c:
                edits.append((m.start(), m.end(), r))
        if edits:
            first = _apply(text, edits)
            work = first.text
    edits = _ascii_edits(work)
    if not edits:
        return first
    second = _apply(work, edits)
    if first is None:
        return second
    # Compose: each character of the second pass maps to characters of the first.
    starts = [first.starts[i] for i in second.starts]
    ends = [first.ends[i - 1] for i in second.ends]
    return Normal(second.text, starts, ends)


def _ascii_edits(text: str) -> list[Edit]:
    edits: list[Edit] = []
    for t in _TRIGGERS:
        if t in text:
            _markup_edits(text, edits)
            break
    if "\n" in text:
        _split_edits(text, edits)
    low = text.lower()
    if ("dot" in low and " at" in low) or "[at]" in low or "(at)" in low:
        edits += _spelled_emails(text)
    if _spelled_hint(low):
        edits += _spelled_digits(text)
    if len(edits) > 1:
        edits = _disjoint(edits)
    return edits


def _split_edits(text: str, edits: list[Edit]) -> None:
    """One group of digits per line ("4111\n1111\n..."), not a postcode then a phone number:
    a line break after a group of 3-4 digits (or after one such join), before 2-6 digits."""
    joined = -1  # where the last line break joined two groups of digits
    for m in _BREAK_DIGIT.finditer(text):
        s = m.start()
        if s > 0 and text[s - 1] == "\r":
            s -= 1
        while s > 0 and s > m.start() - 4 and text[s - 1] in " \t":
            s -= 1
        back = _digits_back(text, s - 1) if s > 0 else 0
        e = m.end() - 1  # the digit after the break
        if back and (3 <= back <= 4 or s - back == joined) and 2 <= _digits_ahead(text, e) <= 6:
            edits.append((s, e, " "))
            joined = e


def _markup_edits(text: str, edits: list[Edit]) -> None:
    for m in _EDIT.finditer(text):
        s, e = m.start(), m.end()
        c = text[s]
        if c == "_" and e == s + 1:
            before = text[s - 1] if s else " "
            after = text[e] if e < len(text) else " "
            if _in_word(text, s):
                pass  # "x86_64", "na7_7GeC" in a key: an identifier's underscore stays
            elif "0" <= before <= "9" and "0" <= after <= "9":
                edits.append((s, e, "-"))  # "4111_1111_1111_1111"
            elif ("0" <= before <= "9" and not after.isalnum()) or (
                "0" <= after <= "9" and not before.isalnum()
            ):
                edits.append((s, e, ""))  # emphasis: "_4111_"
        elif c in "<*`~_":
            edits.append((s, e, ""))
        elif c == "\t":
            edits.append((s, e, " "))
        elif c == "&":
            r = _reference(m.group())
            if r is not None:
                edits.append((s, e, r))
        elif c == "%":
            edits.append((s, e, "@"))
        else:  # "@" and the spaces after it
            a = s
            while a > 0 and s - a < 3 and text[a - 1] == " ":
                a -= 1
            if (a < s or e > s + 1) and _word_char(text, a - 1) and _word_char(text, e):
                edits.append((a, e, "@"))  # "jane @ example.com"


def _spelled_hint(low: str) -> bool:
    """Could six digit words stand in a row here? Their letters must be there six times at
    least: substring counts in C (a regex would try its alternatives at every letter)."""
    n = 0
    for w in _HINT_WORDS:
        n += low.count(w)
        if n >= 6:
            return True
    return False


def _in_word(text: str, at: int) -> bool:
    """Is the underscore at `at` inside a token of letters, digits and underscores that has a
    letter within 64 characters either way?"""
    i = at - 1
    while i >= 0 and at - i <= 64 and (text[i].isalnum() or text[i] == "_"):
        if text[i].isalpha():
            return True
        i -= 1
    j = at + 1
    while j < len(text) and j - at <= 64 and (text[j].isalnum() or text[j] == "_"):
        if text[j].isalpha():
            return True
        j += 1
    return False


def _digits_back(text: str, end: int) -> int:
    """How many digits end at text[end] (inclusive), counting up to 7."""
    i = end
    while i >= 0 and end - i < 7 and "0" <= text[i] <= "9":
        i -= 1
    return end - i


def _digits_ahead(text: str, start: int) -> int:
    """How many digits start at text[start], counting up to 7."""
    i = start
    while i < len(text) and i - start < 7 and "0" <= text[i] <= "9":
        i += 1
    return i - start


def _word_char(text: str, i: int) -> bool:
    return 0 <= i < len(text) and (text[i].isalnum() or text[i] in "._-+")


def _reference(ref: str) -> str | None:
    """The character an HTML character reference stands for, if it is one worth decoding."""
    body = ref[1:-1]
    if body.startswith("#"):
        try:
            code = int(body[2:], 16) if body[1:2] in ("x", "X") else int(body[1:])
        except ValueError:
            return None
        if not 32 <= code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        c = chr(code)
        return c if c.isascii() else char_map(c)
    return _ENTITIES.get(body.lower())


def _spelled_emails(text: str) -> list[Edit]:
    """ "jane at example dot com": the "at" and each "dot" become "@" and "."."""
    edits: list[Edit] = []
    for m in _AT_WORD.finditer(text):
        s, e = m.start(), m.end()
        bracketed = "at" not in m.group().strip().lower() or m.group().strip()[0] in "[({<"
        local = _LOCAL_REVERSED.match(text[max(0, s - 64) : s][::-1])
        if local is None:
            continue
        dom = _SPELLED_DOMAIN.match(text, e)
        if dom is None:
            continue
        spelled_dots = list(_DOT_WORD.finditer(text, e, dom.end()))
        if not spelled_dots and not bracketed:
            continue  # "look at example.com": prose, not an address
        tld = re.split(r"[^\w-]+", dom.group().lower())[-1]
        if not tld.isalpha() or not 2 <= len(tld) <= 24:
            continue
        edits.append((s, e, "@"))
        edits += [(d.start(), d.end(), ".") for d in spelled_dots]
    return edits


def _spelled_digits(text: str) -> list[Edit]:
    """Six or more digit words in a row become digits, the words' separators dropped."""
    edits: list[Edit] = []
    for m in _SPELLED_DIGITS.finditer(text):
        words = list(_DIGIT_WORD.finditer(text, m.start(), m.end()))
        for k, w in enumerate(words):
            end = words[k + 1].start() if k + 1 < len(words) else w.end()
            edits.append((w.start(), end, _DIGIT_WORDS[w.group().lower()]))
    return edits


def _disjoint(edits: list[Edit]) -> list[Edit]:
    edits.sort(key=lambda e: (e[0], -e[1]))
    out: list[Edit] = []
    reach = -1
    for ed in edits:
        if ed[0] >= reach:
            out.append(ed)
            reach = ed[1]
    return out


def _apply(text: str, edits: list[Edit]) -> Normal:
    """`text` with the (sorted, disjoint) edits made, and the span map."""
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for s, e, r in edits:
        if s > pos:
            parts.append(text[pos:s])
            starts.extend(range(pos, s))
            ends.extend(range(pos + 1, s + 1))
        if r:
            parts.append(r)
            starts.extend([s] * len(r))
            ends.extend([e] * len(r))
        pos = e
    if pos < len(text):
        parts.append(text[pos:])
        starts.extend(range(pos, len(text)))
        ends.extend(range(pos + 1, len(text) + 1))
    return Normal("".join(parts), starts, ends)
