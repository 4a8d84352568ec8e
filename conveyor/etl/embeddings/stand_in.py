"""A deterministic stand-in embedder for tests about something else (pipelines, bridge, search API).

Vectors are a fixed function of the text: the normalised sum of pseudo-random vectors of its
lower-cased words (seeded by a hash of the word), so texts that share words are close and the same
text always gives the same vector, on every machine and run. No model, no threads, microseconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from conveyor.etl.embeddings.embedder import Embeddings, approximate_token_spans, check_texts, normalize_rows


class StandInEmbedder:
    def __init__(self, dimension: int = 64, *, model_id: str | None = None, max_tokens: int = 256,
                 batch_size: int = 32) -> None:
        if dimension < 2:
            raise ValueError(f"dimension must be at least 2, got {dimension}")
        self._dimension = dimension
        self._model_id = model_id or f"conveyor/stand-in-{dimension}"
        self._max_tokens = max_tokens
        self._batch_size = batch_size
        self.calls: list[int] = []  # batch sizes seen, for tests that check batching

    @property
    def model_id(self) -> str:
        return self._model_id

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

    def embed(self, texts: Sequence[str]) -> Embeddings:
        items = check_texts(texts, self._model_id)
        self.calls.append(len(items))
        rows = np.zeros((len(items), self._dimension), dtype=np.float32)
        for i, text in enumerate(items):
            for start, end in approximate_token_spans(text.lower()):
                rows[i] += _word_vector(text.lower()[start:end], self._dimension)
            if not rows[i].any():
                rows[i, 0] = 1.0  # the empty text still gets a unit vector
        return Embeddings(self._model_id, self._dimension, normalize_rows(rows))


@lru_cache(maxsize=65536)
def _word_vector(word: str, dimension: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
    return np.random.default_rng(seed).standard_normal(dimension).astype(np.float32)
