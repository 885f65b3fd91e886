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
  digits ("4111\n1111\n...", but not a postcode and then a phone number on the next line),
  judged in a pass of its own once the markup is gone ("4111 <b>1111</b>\n2222 3333").
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
# Characters of the Basic Multilingual Plane that `char_map` changes although NFKC leaves them
# alone: format characters, dashes, "。", decimal digits of other scripts (a test checks this
# list against `char_map` over the plane). With `unicodedata.is_normalized`, one search for
# them tells most non-ASCII text (accented names) that it needs nothing. BMP ranges only: the
# regex engine tests a class with ranges beyond the plane range by range, 100x slower; text
# with a character beyond it (emoji, mathematical digits) takes the per-character path.
_CHANGED: Final = re.compile(
    "["
    "\u0085\u00ad\u0600-\u0605\u061c\u0660-\u0669\u06dd\u06f0-\u06f9\u070f\u07c0-\u07c9"
    "\u0890-\u0891\u08e2\u0966-\u096f\u09e6-\u09ef\u0a66-\u0a6f\u0ae6-\u0aef\u0b66-\u0b6f"
    "\u0be6-\u0bef\u0c66-\u0c6f\u0ce6-\u0cef\u0d66-\u0d6f\u0de6-\u0def\u0e50-\u0e59"
    "\u0ed0-\u0ed9\u0f20-\u0f29\u1040-\u1049\u1090-\u1099\u1680\u17e0-\u17e9\u180e"
    "\u1810-\u1819\u1946-\u194f\u19d0-\u19d9\u1a80-\u1a89\u1a90-\u1a99\u1b50-\u1b59"
    "\u1bb0-\u1bb9\u1c40-\u1c49\u1c50-\u1c59\u200b-\u2010\u2012-\u2015\u2028-\u202e\u2043"
    "\u2060-\u2064\u2066-\u206f\u2212\u3002\ua620-\ua629\ua8d0-\ua8d9\ua900-\ua909"
    "\ua9d0-\ua9d9\ua9f0-\ua9f9\uaa50-\uaa59\uabf0-\uabf9\ufeff\ufff9-\ufffb"
    "]"
)


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
_FIRST_HINTS: Final = ("two", "three", "four", "five", "six")
# A character beyond the Basic Multilingual Plane (see `_CHANGED`).
_ASTRAL: Final = re.compile("[\U00010000-\U0010ffff]")
# The characters an edit of `_EDIT` starts with: one class, so one search in C tells most
# texts that `_EDIT` need not run.
_TRIGGER: Final = re.compile(r"[<*`~_\t&%@]")
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
    done: Normal | None = None
    work = text
    if not text.isascii() and (
        _ASTRAL.search(text) is not None
        or not unicodedata.is_normalized("NFKC", text)
        or _CHANGED.search(text) is not None
    ):
        edits: list[Edit] = []
        for m in _NON_ASCII.finditer(text):
            c = m.group()
            r = char_map(c)
            if r != c:
                edits.append((m.start(), m.end(), r))
        if edits:
            done = _apply(text, edits)
            work = done.text
    # Line breaks last: a group of digits ends a line only once the markup around it is gone
    # ("4111 <b>1111</b>\n2222 3333").
    for stage in (_ascii_edits, _line_edits):
        edits = stage(work)
        if edits:
            step = _apply(work, edits)
            done = step if done is None else _compose(done, step)
            work = step.text
    return done


def _compose(first: Normal, second: Normal) -> Normal:
    """`second` (a pass over `first.text`) with each character mapped to the original."""
    starts = [first.starts[i] for i in second.starts]
    ends = [first.ends[i - 1] for i in second.ends]
    return Normal(second.text, starts, ends)


def _ascii_edits(text: str) -> list[Edit]:
    edits: list[Edit] = []
    if _TRIGGER.search(text) is not None:
        _markup_edits(text, edits)
    low = text.lower()
    if ("dot" in low and " at" in low) or "[at]" in low or "(at)" in low:
        edits += _spelled_emails(text)
    if _spelled_hint(low):
        edits += _spelled_digits(text)
    if len(edits) > 1:
        edits = _disjoint(edits)
    return edits


def _line_edits(text: str) -> list[Edit]:
    edits: list[Edit] = []
    if "\n" in text:
        _split_edits(text, edits)
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
    """Could six digit words stand in a row here? Substring tests in C (a regex would try its
    alternatives at every letter). First the words of 2-6, rare in other words: a spelled-out
    number without any of them (only 0, 1, 7, 8, 9: one in 2^n numbers of n digits) is not
    looked for. Then the letters of six digit words at least."""
    for w in _FIRST_HINTS:
        if w in low:
            break
    else:
        return False
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
