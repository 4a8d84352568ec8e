"""Fixtures for the embedding tests: the real model, loaded once per session, and both embedded stores."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.etl.embeddings.vector_store import VectorStore

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may come from a model hub


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh conversion cache: the first load of the session exports the ONNX file itself."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def minilm(model_cache: Path):  # type: ignore[no-untyped-def]
    from conveyor.etl.embeddings.onnx_embedder import OnnxEmbedder

    return OnnxEmbedder(cache_dir=model_cache)


@pytest.fixture(params=["edge", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    from conveyor.etl.embeddings.edge_store import EdgeStore
    from conveyor.etl.embeddings.qdrant_store import QdrantStore

    opened: VectorStore = EdgeStore(tmp_path / "vectors") if request.param == "edge" else QdrantStore.local(
        tmp_path / "vectors")
    yield opened
    opened.close()
