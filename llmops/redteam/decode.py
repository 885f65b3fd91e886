"""Undoing the disguises an attack (or a bot's answer) may use, so detectors see through them.

A canary or a system prompt can come back base64-encoded, in ROT13, reversed, in leetspeak, with
Cyrillic look-alike letters or zero-width characters between its letters. `variants(text)` gives
the text as written plus every decoding worth trying; `skeleton(text)` folds case, width,
look-alikes and leetspeak to one spelling. Detectors compare skeletons of every variant.

Everything here is linear in the text and bounded: a huge answer costs a few passes over it.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from collections.abc import Iterator

#: Text past this many characters is not decoded (the plain text is still searched whole).
MAX_DECODE_CHARS = 200_000
#: Encoded runs tried per text, and how deep an encoding inside an encoding is followed.
MAX_RUNS = 64
MAX_DEPTH = 2

# Look-alike letters (Unicode's confusables of the Latin alphabet that NFKC keeps apart):
# Cyrillic and Greek lower and upper case.
_HOMOGLYPHS = str.maketrans(
    "аеорсухіјѕԁɡһӏⅼοαυνκτιΑΒΕΖΗΙΚΜΝΟΡΤΥΧАВЕКМНОРСТХЅІЈ",
    "aeopcyxijsdghllouavktiABEZHIKMNOPTYXABEKMHOPCTXSIJ",
)
# Leetspeak and other stand-ins, folded to one letter each. `1`, `|`, `!` and `l` all read as
# `i` in the skeleton, `0` as `o`: the same fold runs on both sides of a comparison.
_LEET = str.maketrans({
    "0": "o", "1": "i", "!": "i", "|": "i", "l": "i", "2": "z", "3": "e", "4": "a", "@": "a",
    "5": "s", "$": "s", "6": "g", "9": "g", "7": "t", "+": "t", "8": "b",
})

_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")
_HEX_RUN = re.compile(r"\b(?:[0-9A-Fa-f]{2}[ :]?){8,}\b")
_WORD = re.compile(r"\w+", re.UNICODE)
# A word holding both a letter and a digit (or @, $): leetspeak, read back as letters.
_LEET_WORD = re.compile(r"(?=[\w@$]*[^\W\d_])[\w@$]*[\d@$][\w@$]*")


# Unicode's format characters (category Cf: zero-width spaces and joiners, bidi marks, soft
# hyphens, tag characters) dropped and look-alikes mapped, in one C-level `str.translate`. The
# blocks that hold format characters, filtered by this Python's own Unicode tables.
_FORMAT_BLOCKS = ((0x00AD, 0x00AE), (0x0600, 0x0606), (0x061C, 0x061D), (0x06DD, 0x06DE),
                  (0x070F, 0x0710), (0x0890, 0x0892), (0x08E2, 0x08E3), (0x180E, 0x180F),
                  (0x200B, 0x2010), (0x202A, 0x202F), (0x2060, 0x2070), (0xFEFF, 0xFF00),
                  (0xFFF9, 0xFFFC), (0x110BD, 0x110BE), (0x110CD, 0x110CE), (0x13430, 0x13440),
                  (0x1BCA0, 0x1BCA4), (0x1D173, 0x1D17B), (0xE0001, 0xE0002), (0xE0020, 0xE0080))
_FOLD = {
    **_HOMOGLYPHS,
    **{c: None for lo, hi in _FORMAT_BLOCKS for c in range(lo, hi)
       if unicodedata.category(chr(c)) == "Cf"},
}
_NOT_ALNUM = re.compile(r"[\W_]+")


def fold(text: str) -> str:
    """NFKC (full-width letters, ligatures), no format characters (zero-width spaces and
    joiners, bidi marks, soft hyphens), look-alikes to Latin, case-folded."""
    return unicodedata.normalize("NFKC", text).translate(_FOLD).casefold()


def skeleton(text: str) -> str:
    """`fold`, then leetspeak read as letters and everything but letters and digits dropped:
    "P-4-P-4-Y-4 ４８２１" and "papaya4821" have one skeleton."""
    return _NOT_ALNUM.sub("", fold(text).translate(_LEET))


_WORD_FOLD = str.maketrans({"l": "i", "'": None, "’": None})


def _unleet_word(match: re.Match[str]) -> str:
    return match.group().translate(_LEET)


def words(text: str) -> list[str]:
    """The words of `text`, folded, with digits inside words of letters read as leetspeak
    ("4ss1st4nt" is "assistant", "2024" stays), `l` as `i`, apostrophes dropped (for n-gram
    comparison: both sides are read the same way)."""
    # `l` reads as `i` everywhere (in leetspeak `1` stands for either): one C-level pass.
    text = fold(text).translate(_WORD_FOLD)
    return _WORD.findall(_LEET_WORD.sub(_unleet_word, text))


def rot13(text: str) -> str:
    return codecs.encode(text, "rot13")


def _b64(run: str) -> str | None:
    raw = run.rstrip("=")
    raw += "=" * (-len(raw) % 4)
    try:
        data = base64.b64decode(raw.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _text_of(data)


def _hex(run: str) -> str | None:
    try:
        data = bytes.fromhex(re.sub(r"[ :]", "", run))
    except ValueError:
        return None
    return _text_of(data)


def _text_of(data: bytes) -> str | None:
    """Decoded bytes that are mostly printable UTF-8 text (not random bytes a word decoded to)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(ch.isprintable() or ch in "\n\t" for ch in text)
    return text if text and printable >= 0.9 * len(text) else None


def decoded_runs(text: str) -> Iterator[str]:
    """The base64 and hex runs of `text` that decode to text."""
    n = 0
    for pattern, decode in ((_B64_RUN, _b64), (_HEX_RUN, _hex)):
        for match in pattern.finditer(text[:MAX_DECODE_CHARS]):
            got = decode(match.group())
            if got is not None:
                yield got
                n += 1
                if n >= MAX_RUNS:
                    return


def variants(text: str, depth: int = MAX_DEPTH) -> Iterator[str]:
    """The text as written, ROT13'd, reversed, and every encoded run in it decoded (recursively,
    to `depth`). Callers fold each one themselves."""
    yield text
    head = text[:MAX_DECODE_CHARS]
    yield rot13(head)
    yield head[::-1]
    if depth > 0:
        for inner in decoded_runs(head):
            yield from variants(inner, depth - 1)
