"""Choosing the embedder and the vector store from settings (environment variables CONVEYOR_*).

| variable | default | meaning |
| --- | --- | --- |
| CONVEYOR_EMBEDDER | `onnx` | `onnx` (onnxruntime), `sentence-transformers` (CPU torch), `openai` (HTTP), `stand-in` (tests: no model) |
| CONVEYOR_EMBEDDING_MODEL_DIR | the shipped all-MiniLM-L6-v2 | a local sentence-transformers model folder |
| CONVEYOR_EMBEDDING_MODEL | folder name / required for openai | model id recorded with every vector |
| CONVEYOR_EMBEDDING_URL, _API_KEY, _DIMENSION | - | the OpenAI-compatible service (_DIMENSION: also the stand-in's, default 64) |
| CONVEYOR_QDRANT_URL | - | a Qdrant server: used when set |
| CONVEYOR_VECTOR_DIR | `conveyor-vectors` | folder of the embedded store, owned by one process |
| CONVEYOR_VECTOR_ENGINE | `edge` | embedded engine: `edge` (Qdrant Edge) or `local` (qdrant-client local mode) |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from conveyor.errors import ConfigurationError
from conveyor.etl.embeddings.embedder import Embedder
from conveyor.etl.embeddings.vector_store import VectorStore

EMBEDDERS = ("onnx", "sentence-transformers", "openai", "stand-in")
ENGINES = ("edge", "local")


@dataclass(frozen=True)
class EmbeddingSettings:
    embedder: str = "onnx"
    model_dir: str = ""
    model: str = ""
    url: str = ""
    api_key: str = ""
    dimension: int = 0
    qdrant_url: str = ""
    qdrant_api_key: str = ""
    vector_dir: str = "conveyor-vectors"
    vector_engine: str = "edge"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EmbeddingSettings:
        env = os.environ if env is None else env
        raw_dimension = env.get("CONVEYOR_EMBEDDING_DIMENSION", "0")
        try:
            dimension = int(raw_dimension)
        except ValueError:
            raise ConfigurationError(f"CONVEYOR_EMBEDDING_DIMENSION must be an integer, got {raw_dimension!r}") from None
        return cls(
            embedder=env.get("CONVEYOR_EMBEDDER", cls.embedder),
            model_dir=env.get("CONVEYOR_EMBEDDING_MODEL_DIR", ""),
            model=env.get("CONVEYOR_EMBEDDING_MODEL", ""),
            url=env.get("CONVEYOR_EMBEDDING_URL", ""),
            api_key=env.get("CONVEYOR_EMBEDDING_API_KEY", ""),
            dimension=dimension,
            qdrant_url=env.get("CONVEYOR_QDRANT_URL", ""),
            qdrant_api_key=env.get("CONVEYOR_QDRANT_API_KEY", ""),
            vector_dir=env.get("CONVEYOR_VECTOR_DIR", cls.vector_dir),
            vector_engine=env.get("CONVEYOR_VECTOR_ENGINE", cls.vector_engine),
        ).validated()

    def validated(self) -> EmbeddingSettings:
        if self.embedder not in EMBEDDERS:
            raise ConfigurationError(f"CONVEYOR_EMBEDDER must be one of {', '.join(EMBEDDERS)}, got {self.embedder!r}")
        if self.vector_engine not in ENGINES:
            raise ConfigurationError(f"CONVEYOR_VECTOR_ENGINE must be one of {', '.join(ENGINES)}, "
                                     f"got {self.vector_engine!r}")
        if self.embedder == "openai" and not (self.url and self.model and self.dimension > 0):
            raise ConfigurationError(
                "The openai embedder needs the service URL, the model name and its dimension.",
                action="Set CONVEYOR_EMBEDDING_URL, CONVEYOR_EMBEDDING_MODEL and CONVEYOR_EMBEDDING_DIMENSION.")
        return self


def build_embedder(settings: EmbeddingSettings) -> Embedder:
    model_dir = settings.model_dir or None
    model_id = settings.model or None
    if settings.embedder == "onnx":
        from conveyor.etl.embeddings.onnx_embedder import OnnxEmbedder

        return OnnxEmbedder(model_dir, model_id=model_id)
    if settings.embedder == "sentence-transformers":
        from conveyor.etl.embeddings.st_embedder import SentenceTransformersEmbedder

        return SentenceTransformersEmbedder(model_dir, model_id=model_id)
    if settings.embedder == "stand-in":
        from conveyor.etl.embeddings.stand_in import StandInEmbedder

        return StandInEmbedder(settings.dimension or 64, model_id=model_id)
    from conveyor.etl.embeddings.http_embedder import OpenAIEmbedder

    return OpenAIEmbedder(settings.url, settings.model, settings.dimension, api_key=settings.api_key or None)


def open_store(settings: EmbeddingSettings) -> VectorStore:
    """The Qdrant server when a URL is set, else the embedded engine on the folder (locked)."""
    from conveyor.etl.embeddings.qdrant_store import QdrantStore

    if settings.qdrant_url:
        return QdrantStore.server(settings.qdrant_url, api_key=settings.qdrant_api_key or None)
    if settings.vector_engine == "local":
        return QdrantStore.local(Path(settings.vector_dir))
    from conveyor.etl.embeddings.edge_store import EdgeStore

    return EdgeStore(Path(settings.vector_dir))
