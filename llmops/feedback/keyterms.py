"""Salient key terms of a corrected answer, for the `contains_all` of a regression case.

The case must pass a correct answer worded differently from `expected` and fail the bad response
that was rated. So a term is:

- taken from `expected` itself, and reduced to a stem that is a prefix of the word (`charges` ->
  `charg`, `freezing` -> `freez`): matching is by case-insensitive substring, so `expected` always
  passes its own case and so do inflections (`charge`, `charged`, `charging`);
- distinctive: numbers (amounts, days, percentages: they survive paraphrase), names, long and
  domain words; never stopwords, filler or redaction placeholders (`<PHONE_NUMBER>`: a correct
  answer holds the real value or none);
- absent from the bad response when possible: a term the bad response already holds proves
  nothing. Terms the prompt holds are weaker (a bad answer may echo the question).

At most `limit` terms, in the order they appear in `expected`, so the YAML reads naturally.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"<[A-Z][A-Z0-9_]*>"  # a redaction placeholder: skipped
    r"|\d+(?:[.,:/]\d+)*%?"  # 25, 1.5%, 24/7, 9:30
    r"|[^\W\d_]+(?:['’-][^\W\d_]+)*"  # words, don't, e-mail
)

# Function words and filler of support answers: they say nothing about what the answer is.
_STOPWORDS = """
    a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each either else ever every few for from further get gets
    getting got had hadn't has hasn't have haven't having he her here hers herself him himself his
    how however i i'm i'll i've if in into is isn't it it's its itself just let let's like may me
    might more most must mustn't my myself need needs no nor not now of off often on once only or
    other our ours ourselves out over own per please same shall she should shouldn't so some such
    than that that's the their theirs them themselves then there there's these they they're this
    those through to too under until up upon us very via was wasn't we we'll we're we've were
    weren't what what's when where which while who whom why will with within without won't would
    wouldn't yes yet you you'd you'll you're you've your yours yourself yourselves
    able absolutely actually already always anything assist available certainly currently
    dear directly easily everything following glad go going happy hello help helpful hi hope
    information kind know make makes making many much new one ones okay possible quickly really
    regarding right see simply something sorry sure thank thanks thing things today two use used
    using want way well will would
    across effect ensure note reach steps step take takes taken time times
"""
STOPWORDS = frozenset(_STOPWORDS.split())

_SENTENCE_START = re.compile(r"(^|[.!?:;\n]\W*)$")
STRONG = 2.5  # a number, a name, or a word of 6+ letters
_SUFFIXES = ("ies", "ied", "ing", "ed", "es", "s", "e", "y")


def stem(word: str) -> str:
    """A prefix of `word` shared by its inflections: `charges` -> `charg`, `stopped` -> `stop`."""
    w = word.lower()
    for suffix in _SUFFIXES:
        keep = 3 if suffix == "s" else 4  # fees -> fee, cards -> card; but bus, gas stay
        if w.endswith(suffix) and len(w) - len(suffix) >= keep and not w.endswith("ss"):
            w = w[: -len(suffix)]
            if suffix in ("ing", "ed") and len(w) >= 4 and w[-1] == w[-2] and w[-1] not in "lsz":
                w = w[:-1]  # stopp(ed) -> stop
            elif suffix in ("ing", "ed", "es", "s") and w.endswith("e") and len(w) > 4:
                w = w[:-1]
            break
    return w


def _number(token: str) -> str:
    """A number as a correct answer is likely to write it: `25.00` -> `25`, `1.5%` -> `1.5`."""
    t = token.rstrip("%")
    return re.sub(r"(?<=\d)[.,]00$", "", t)


def key_terms(
    expected: str, *, response: str | None = None, prompt: str | None = None, limit: int = 3
) -> list[str]:
    """Up to `limit` terms a correct answer holds and, where possible, the bad `response` lacks."""
    bad = (response or "").lower()
    asked = (prompt or "").lower()
    candidates: dict[str, tuple[float, int]] = {}  # term -> (score, first position)
    for pos, m in enumerate(_TOKEN.finditer(expected)):
        token = m.group()
        if token.startswith("<"):
            continue
        if token[0].isdigit():
            term = _number(token)
            # A lone digit (3 days) tells less: it also matches inside other numbers; and
            # 1,000 may well be written 1000 or 1.000 by a correct answer.
            score = 2.0 if len(token) < 2 or re.search(r"\d,\d{3}", term) else 4.0
        else:
            low = token.lower()
            if low in STOPWORDS or len(low) < 3:
                continue
            term = stem(low)
            score = 1.0 + min(len(low), 8) / 4
            if low.endswith("ly"):
                score -= 1.0  # adverbs (immediately, usually) are paraphrased freely
            if token[0].isupper() and not _SENTENCE_START.search(expected[: m.start()]):
                score += 1.0  # a name or acronym mid-sentence (Visa, Springfield, ATM)
        if term in bad:
            score -= 10.0  # proves nothing against the bad response
        if term in asked:
            score -= 0.5  # a bad answer may echo the question
        if term not in candidates or candidates[term][0] < score:
            candidates[term] = (score, candidates.get(term, (0, pos))[1])
    best = sorted(candidates.items(), key=lambda kv: (-kv[1][0], kv[1][1]))
    discriminating = [kv for kv in best if kv[1][0] > 0]
    # The best term always; more only when strong: each one more is one more way for a correct
    # answer in other words to fail.
    chosen = [kv for i, kv in enumerate(discriminating) if i == 0 or kv[1][0] >= STRONG][:limit]
    chosen = chosen or best[:1]
    chosen.sort(key=lambda kv: kv[1][1])
    return [term for term, _ in chosen]
