"""The embedding stage's parts: embedders, chunking, the bridge to Qdrant points, vector stores, search.

Light to import: the model runtimes (onnxruntime, torch) and the Qdrant engines load only when an
embedder or a store is built.
"""

from conveyor.etl.embeddings.bridge import (
    SOURCE_TYPES,
    EntityKey,
    EntityText,
    SyncPlan,
    VectorRow,
    collection_name,
    plan_sync,
    point_id,
    stale_rows,
    text_hash,
)
from conveyor.etl.embeddings.chunking import Chunk, chunk_text
from conveyor.etl.embeddings.config import EmbeddingSettings, build_embedder, open_store
from conveyor.etl.embeddings.embedder import Embedder, EmbeddingError, Embeddings
from conveyor.etl.embeddings.folder_lock import FolderLock, StoreLockedError
from conveyor.etl.embeddings.indexer import SearchHit, SyncResult, VectorIndexer
from conveyor.etl.embeddings.stand_in import StandInEmbedder
from conveyor.etl.embeddings.vector_store import ScoredHit, VectorPoint, VectorStore, VectorStoreError

__all__ = [
    "SOURCE_TYPES", "Chunk", "Embedder", "EmbeddingError", "EmbeddingSettings", "Embeddings", "EntityKey",
    "EntityText", "FolderLock", "ScoredHit", "SearchHit", "StandInEmbedder", "StoreLockedError", "SyncPlan",
    "SyncResult", "VectorIndexer", "VectorPoint", "VectorRow", "VectorStore", "VectorStoreError",
    "build_embedder", "chunk_text", "collection_name", "open_store", "plan_sync", "point_id", "stale_rows",
    "text_hash",
]
