"""An embedder that calls an OpenAI-compatible HTTP service (`POST {base_url}/embeddings`).

Optional: for teams that run an embedding server (vLLM, text-embeddings-inference, llama.cpp, a
hosted API). Vectors are L2-normalised here whatever the service returns, so scores compare like
the local model's. Chunking uses an approximate word count (the service's tokenizer is not local),
so `max_tokens` should be set below the service's real window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from conveyor.etl.embeddings.embedder import (
    EmbeddingError,
    Embeddings,
    approximate_token_spans,
    check_texts,
    normalize_rows,
)


class OpenAIEmbedder:
    def __init__(self, base_url: str, model: str, dimension: int, *, api_key: str | None = None,
                 max_tokens: int = 512, batch_size: int = 64, timeout: float = 60.0,
                 client: httpx.Client | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise EmbeddingError(f"embedding service URL {base_url!r} must start with http:// or https://")
        if dimension < 1 or max_tokens < 8 or batch_size < 1:
            raise EmbeddingError(f"bad embedder settings: dimension={dimension}, max_tokens={max_tokens}, "
                                 f"batch_size={batch_size}")
        self.url = base_url.rstrip("/") + "/embeddings"
        self._model = model
        self._dimension = dimension
        self._max_tokens = max_tokens
        self._batch_size = batch_size
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.Client(timeout=timeout, headers=headers)

    @property
    def model_id(self) -> str:
        return self._model

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return approximate_token_spans(text)

    def close(self) -> None:
        self._client.close()

    def embed(self, texts: Sequence[str]) -> Embeddings:
        items = check_texts(texts, self._model)
        rows = [self._call(items[i:i + self._batch_size]) for i in range(0, len(items), self._batch_size)]
        vectors = np.concatenate(rows) if rows else np.zeros((0, self._dimension), dtype=np.float32)
        return Embeddings(self._model, self._dimension, normalize_rows(vectors))

    def _call(self, batch: list[str]) -> np.ndarray:
        try:
            response = self._client.post(self.url, json={"model": self._model, "input": batch})
        except httpx.HTTPError as exc:
            raise EmbeddingError(f"embedding service {self.url} is unreachable: {exc}") from exc
        if response.status_code != 200:
            raise EmbeddingError(f"embedding service {self.url} answered {response.status_code}: "
                                 f"{response.text[:300]}")
        try:
            data: list[dict[str, Any]] = sorted(response.json()["data"], key=lambda d: d["index"])
            vectors = np.array([d["embedding"] for d in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(f"embedding service {self.url} sent a malformed answer: {exc!r}") from exc
        if vectors.shape != (len(batch), self._dimension):
            raise EmbeddingError(f"embedding service {self.url} returned vectors of shape {vectors.shape} "
                                 f"for {len(batch)} texts, expected dimension {self._dimension} "
                                 f"(model {self._model})")
        return vectors
