"""Text helpers of the reference chatbot: the tokenizer retrieval uses, and token counts."""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)

# Words that carry no topic: question words, pronouns, auxiliaries. "not" is here too because
# "my card is not working" and "my card stopped working" should meet on "card" and "work".
STOPWORDS = frozenset(
    """
    a about after am an and any are as at be been being but by can could did do does doing
    for from had has have having he her here hers him his how i i'd i'll i'm i've if in into is
    it it's its just let me might mine more most must my myself no not now of off on once only
    or our ours out over own please same she should so some such than that that's the their
    them then there these they this those through to too under until up us very was we were
    what what's when where which while who whom why will with would you you're your yours
    yourself ok okay also still get got want need like know tell just really im ive dont cant
    """.split()
)

_stemmer = snowballstemmer.stemmer("english")


@lru_cache(maxsize=16384)
def _stem(word: str) -> str:
    return _stemmer.stemWord(word)


def tokenize(text: str) -> list[str]:
    """Lower-cased, stop words dropped, stemmed ("freezing" and "freeze" both give "freez")."""
    out: list[str] = []
    for match in _WORD.finditer(text.lower().replace("’", "'")):
        word = match.group()
        if word.endswith("'s"):
            word = word[:-2]
        if word in STOPWORDS or "'" in word:
            continue
        out.append(_stem(word))
    return out


def count_tokens(text: str) -> int:
    """A rough token count for `usage` (words and punctuation), stable for the same text."""
    return len(_TOKEN.findall(text))
