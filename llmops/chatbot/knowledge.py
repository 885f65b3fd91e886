"""The knowledge base of the reference chatbot (a YAML file) and BM25 retrieval over it.

Each question of a topic is indexed as its own short document, plus one document made of the
topic's title and keywords; a topic scores the best of its documents. Short documents keep BM25
close to "which known question is this", which is what an FAQ bot needs. An exact match of a
known question (after tokenizing) wins outright, so a corrected answer learnt from feedback is
always the one given for the prompt it was learnt from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rank_bm25 import BM25Okapi

from llmops.chatbot.text import tokenize
from llmops.errors import InputError
from llmops.yamlio import read_yaml

if TYPE_CHECKING:
    import numpy as np

RESPONSE_KEYS = (
    "refuse_account_data",
    "refuse_third_party",
    "refuse_injection",
    "out_of_scope",
    "empty",
    "invented_balance",
)
TOPIC_KEYS = {"id", "title", "questions", "keywords", "answer", "source"}


@dataclass(frozen=True)
class Topic:
    id: str
    title: str
    questions: tuple[str, ...]
    answer: str
    keywords: tuple[str, ...] = ()
    #: Where a topic learnt from feedback came from (feedback ids), for review.
    source: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "questions": list(self.questions),
        }
        if self.keywords:
            doc["keywords"] = list(self.keywords)
        doc["answer"] = self.answer
        if self.source:
            doc["source"] = list(self.source)
        return doc


@dataclass(frozen=True)
class Match:
    topic: Topic
    #: BM25 score of the topic's best document (infinite for an exact question match).
    score: float
    #: Share of the query's words that the topic knows: "recommend a good restaurant" shares
    #: only "good" with the greeting, a strong BM25 score on one word but a poor match.
    coverage: float
    #: How many distinct words of the query the topic knows.
    matched: int = 0
    exact: bool = False


@dataclass
class KnowledgeBase:
    path: Path
    bank: dict[str, str]
    responses: dict[str, str]
    topics: list[Topic]
    _index: BM25Okapi | None = field(default=None, repr=False)
    _doc_topic: list[int] = field(default_factory=list, repr=False)
    _exact: dict[tuple[str, ...], int] = field(default_factory=dict, repr=False)
    _topic_words: list[frozenset[str]] = field(default_factory=list, repr=False)
    _vocab: frozenset[str] = field(default=frozenset(), repr=False)

    def __post_init__(self) -> None:
        corpus: list[list[str]] = []
        for i, topic in enumerate(self.topics):
            first = len(corpus)
            for question in topic.questions:
                tokens = tokenize(question)
                corpus.append(tokens)
                self._doc_topic.append(i)
                if tokens:
                    # Later topics win: a topic learnt from feedback overrides an older one.
                    self._exact[tuple(sorted(set(tokens)))] = i
            corpus.append(tokenize(" ".join((topic.title, *topic.keywords))))
            self._doc_topic.append(i)
            self._topic_words.append(frozenset(w for doc in corpus[first:] for w in doc))
        self._index = BM25Okapi(corpus) if corpus else None
        self._vocab = frozenset(self._index.idf) if self._index else frozenset()

    @property
    def public_values(self) -> tuple[str, ...]:
        """The bank's own contact details: identifiers an answer may hold."""
        return tuple(v for v in self.bank.values() if v and v != self.bank.get("name"))

    def topic(self, topic_id: str) -> Topic | None:
        return next((t for t in self.topics if t.id == topic_id), None)

    def search(self, text: str) -> Match | None:
        """The best topic for `text`, or None when no word of it is known."""
        tokens = tokenize(text)
        exact = self._exact.get(tuple(sorted(set(tokens))))
        if exact is not None:
            return Match(self.topics[exact], float("inf"), 1.0, len(set(tokens)), exact=True)
        scores = self._scores(tokens)
        if scores is None:
            return None
        best = int(scores.argmax())  # the first of equal scores: the same answer on every run
        return self._match(best, scores[best], tokens) if scores[best] > 0 else None

    def ranked(self, text: str, k: int) -> list[Match]:
        """The `k` best topics for `text` by BM25 score, each once (the LLM backend's context)."""
        tokens = tokenize(text)
        if k < 1 or (scores := self._scores(tokens)) is None:
            return []
        out: list[Match] = []
        for doc in sorted(range(len(scores)), key=lambda d: -scores[d]):  # stable on ties
            if scores[doc] <= 0 or len(out) >= k:
                break
            if any(m.topic is self.topics[self._doc_topic[doc]] for m in out):
                continue
            out.append(self._match(doc, scores[doc], tokens))
        return out

    def _scores(self, tokens: list[str]) -> np.ndarray | None:
        """BM25 scores of every document for `tokens`, or None when no word of them is known."""
        known = [t for t in tokens if t in self._vocab]
        if not known or self._index is None:
            return None
        return self._index.get_scores(known)

    def _match(self, doc: int, score: float, tokens: list[str]) -> Match:
        """The topic of document `doc` as a match for `tokens`."""
        i = self._doc_topic[doc]
        hits = {t for t in tokens if t in self._topic_words[i]}
        coverage = sum(t in hits for t in tokens) / len(tokens)
        return Match(self.topics[i], float(score), coverage, len(hits))


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: expected a non-empty string")
    return " ".join(value.split())


def _texts(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InputError(f"{where}: expected a list of strings")
    return tuple(_text(v, f"{where}[{i}]") for i, v in enumerate(value))


def parse_kb(doc: Any, path: Path) -> KnowledgeBase:
    if not isinstance(doc, dict):
        raise InputError(f"{path}: expected a mapping with `topics`")
    bank = doc.get("bank") or {}
    responses = doc.get("responses") or {}
    if not isinstance(bank, dict) or not isinstance(responses, dict):
        raise InputError(f"{path}: `bank` and `responses` must be mappings")
    missing = [k for k in RESPONSE_KEYS if not isinstance(responses.get(k), str)]
    if missing:
        raise InputError(f"{path}: responses: missing {', '.join(missing)}")
    raw_topics = doc.get("topics")
    if not isinstance(raw_topics, list) or not raw_topics:
        raise InputError(f"{path}: `topics` must be a non-empty list")
    topics: list[Topic] = []
    seen: set[str] = set()
    for n, raw in enumerate(raw_topics, 1):
        where = f"{path}: topic {n}"
        if not isinstance(raw, dict):
            raise InputError(f"{where}: expected a mapping")
        unknown = set(raw) - TOPIC_KEYS
        if unknown:
            raise InputError(f"{where}: unknown keys {sorted(unknown)}")
        topic = Topic(
            id=_text(raw.get("id"), f"{where}: id"),
            title=_text(raw.get("title"), f"{where}: title"),
            questions=_texts(raw.get("questions"), f"{where}: questions"),
            answer=" ".join(_text(raw.get("answer"), f"{where}: answer").split()),
            keywords=_texts(raw.get("keywords"), f"{where}: keywords"),
            source=_texts(raw.get("source"), f"{where}: source"),
        )
        if not topic.questions:
            raise InputError(f"{where}: questions: at least one question is needed")
        if topic.id in seen:
            raise InputError(f"{where}: duplicate topic id {topic.id!r}")
        seen.add(topic.id)
        topics.append(topic)
    return KnowledgeBase(
        path=path,
        bank={str(k): str(v) for k, v in bank.items()},
        responses={k: " ".join(str(v).split()) for k, v in responses.items()},
        topics=topics,
    )


def kb_to_doc(kb: KnowledgeBase) -> dict[str, Any]:
    return {
        "bank": dict(kb.bank),
        "responses": dict(kb.responses),
        "topics": [t.to_dict() for t in kb.topics],
    }


@lru_cache(maxsize=32)
def _load_cached(path: str, mtime_ns: int, size: int) -> KnowledgeBase:
    p = Path(path)
    return parse_kb(read_yaml(p), p)


def load_kb(path: Path) -> KnowledgeBase:
    """The knowledge base at `path`, parsed and indexed once (again only if the file changes)."""
    try:
        st = path.stat()
    except OSError as exc:
        raise InputError(f"{path}: knowledge base not readable: {exc.strerror}") from exc
    return _load_cached(str(path.resolve()), st.st_mtime_ns, st.st_size)
