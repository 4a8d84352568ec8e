"""The embedder interface: texts in, unit vectors out, each batch labelled with its model and size."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from conveyor.errors import ConveyorError


class EmbeddingError(ConveyorError):
    """An embedder cannot be loaded or cannot embed (missing model files, bad server answer)."""


@dataclass(frozen=True)
class Embeddings:
    """Vectors of one call: row i embeds text i. `model` and `dimension` travel with every vector,
    so whoever stores them records which model made them (and never mixes two models)."""

    model: str
    dimension: int
    vectors: np.ndarray  # float32, shape (len(texts), dimension), rows of unit L2 norm

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or self.vectors.shape[1] != self.dimension:
            raise EmbeddingError(f"model {self.model} returned vectors of shape {self.vectors.shape}, "
                                 f"expected (n, {self.dimension})")

    def __len__(self) -> int:
        return int(self.vectors.shape[0])


@runtime_checkable
class Embedder(Protocol):
    """What the embedding stage needs from a model."""

    @property
    def model_id(self) -> str:
        """Stable name recorded with every vector, e.g. sentence-transformers/all-MiniLM-L6-v2."""
        ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """The model's input window in tokens, special tokens included; longer texts are chunked."""
        ...

    @property
    def batch_size(self) -> int:
        """How many texts one call to the model should carry."""
        ...

    def embed(self, texts: Sequence[str]) -> Embeddings: ...

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) character offsets of the tokens of `text`, special tokens left out."""
        ...


_WORDS = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def approximate_token_spans(text: str) -> list[tuple[int, int]]:
    """Words and punctuation marks: a lower bound of a subword tokenizer's count, for embedders whose
    tokenizer is not local (an HTTP service). Callers keep a margin below the model's window."""
    return [m.span() for m in _WORDS.finditer(text)]


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """L2-normalise each row (zero rows stay zero), as sentence-transformers' Normalize module does."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def check_texts(texts: Sequence[str], model_id: str) -> list[str]:
    """Refuse anything but a sequence of strings, naming the offending item."""
    if isinstance(texts, str):
        raise EmbeddingError(f"embed() takes a list of texts, got one string for model {model_id}",
                             action="Pass [text] to embed a single text.")
    out = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise EmbeddingError(f"text {i} is a {type(text).__name__}, not a string (model {model_id})")
        out.append(text)
    return out
