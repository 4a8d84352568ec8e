"""The same model run by sentence-transformers on CPU torch: the alternative runtime, measured by
bench/embeddings.py against the ONNX default. Optional: needs `pip install torch==2.13.0
sentence-transformers` (the pinned torch is the CPU build; an unpinned one pulls a CUDA build)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from conveyor.etl.embeddings.embedder import EmbeddingError, Embeddings, check_texts
from conveyor.etl.embeddings.onnx_embedder import DEFAULT_MODEL_ID, default_model_dir


class SentenceTransformersEmbedder:
    def __init__(self, model_dir: Path | str | None = None, *, model_id: str | None = None,
                 batch_size: int = 32) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder only, never a hub download
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingError("sentence-transformers is not installed",
                                 action="pip install torch==2.13.0 sentence-transformers") from exc
        path = Path(model_dir) if model_dir is not None else default_model_dir()
        if not path.is_dir():
            raise EmbeddingError(f"model folder {path} does not exist")
        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self._model_id = model_id or (DEFAULT_MODEL_ID if model_dir is None else path.name)
        self._batch_size = batch_size
        dimension = self.model.get_sentence_embedding_dimension()
        if dimension is None:
            raise EmbeddingError(f"{path}: the model does not say its embedding dimension")
        self._dimension = int(dimension)

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        encoded = self.model.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [tuple(span) for span in encoded["offset_mapping"]]

    def embed(self, texts: Sequence[str]) -> Embeddings:
        items = check_texts(texts, self._model_id)
        vectors = self.model.encode(items, batch_size=self._batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return Embeddings(self._model_id, self._dimension, np.asarray(vectors, dtype=np.float32).reshape(-1, self._dimension))
