"""The judge and the embeddings of one run, made from the configuration on first use."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from llmops.quality.embeddings import Embedder, EmbeddingSettings, make_embedder
from llmops.quality.judge import Judge, JudgeSettings, JudgeVerdict, criteria


class Quality:
    def __init__(
        self,
        *,
        judge: Mapping[str, Any] | None = None,
        embeddings: Mapping[str, Any] | None = None,
        root: Path | None = None,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        concurrency: int = 4,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        # Settings are checked now (a bad table is a usage error at start, not per case);
        # the judge's target and the embedding model load only when a case needs them.
        self.judge_settings = JudgeSettings.of(judge)
        self.embedding_settings = EmbeddingSettings.of(embeddings, timeout_s=timeout_s)
        self.root = root
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.redact = redact
        self._judge: Judge | None = None
        self._embedder: Embedder | None = None

    @classmethod
    def from_config(cls, cfg: Any, *, redact: Callable[[str], str] | None = None) -> Quality:
        return cls(judge=cfg.judge, embeddings=cfg.embeddings, root=cfg.root,
                   api_key=cfg.api_key, timeout_s=cfg.timeout_s,
                   concurrency=cfg.concurrency, redact=redact)

    @property
    def min_similarity(self) -> float:
        return self.embedding_settings.min_similarity

    @property
    def judge(self) -> Judge:
        if self._judge is None:
            # the judge's own timeout_s ([tool.llmops.judge]), not the chatbot's
            self._judge = Judge(self.judge_settings, root=self.root, api_key=self.api_key,
                                concurrency=self.concurrency, redact=self.redact)
        return self._judge

    @property
    def judge_used(self) -> bool:
        return self._judge is not None and self._judge.stats.verdicts > 0

    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.embedding_settings)
        return self._embedder

    def similarity(self, text: str, references: Sequence[str]) -> list[float]:
        return self.embedder().similarity(text, references)

    def prepare_judge(self, jobs: Sequence[tuple[Any, Sequence[Mapping[str, str]], str]]) -> None:
        """Grade every (rubric, messages, answer) of the run at once, concurrently; the checks
        then read the verdicts."""
        if jobs:
            asyncio.run(self.judge.grade_many(
                [(criteria(r), tuple(m), a) for r, m, a in jobs]))

    def verdict(self, rubric: Any, messages: Sequence[Mapping[str, str]],
                answer: str) -> JudgeVerdict:
        return self.judge.grade(criteria(rubric), tuple(messages), answer)
