"""`VectorStore` on qdrant-client: a Qdrant server (production) or the client's local mode (a folder)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from conveyor.etl.embeddings.folder_lock import FolderLock
from conveyor.etl.embeddings.vector_store import (
    KEYWORD_FIELDS,
    TENANT,
    ScoredHit,
    VectorPoint,
    VectorStoreError,
    check_collection_name,
    check_search,
    check_vector,
)


class QdrantStore:
    def __init__(self, client: Any, *, lock: FolderLock | None = None) -> None:
        self.client = client
        self._lock = lock
        self._local = lock is not None
        self.concurrent_reads = not self._local  # a server, yes; the local mode is plain Python state
        self._dimensions: dict[str, int] = {}

    @classmethod
    def server(cls, url: str, *, api_key: str | None = None, timeout: int = 30) -> QdrantStore:
        from qdrant_client import QdrantClient

        if not url.startswith(("http://", "https://")):
            raise VectorStoreError(f"Qdrant URL {url!r} must start with http:// or https://")
        return cls(QdrantClient(url=url, api_key=api_key, timeout=timeout))

    @classmethod
    def local(cls, path: Path | str) -> QdrantStore:
        """qdrant-client's local mode on `path`, owned by this process (see folder_lock)."""
        from qdrant_client import QdrantClient

        lock = FolderLock(path).acquire()
        try:
            return cls(QdrantClient(path=str(path)), lock=lock)
        except BaseException:
            lock.release()
            raise

    def ensure_collection(self, name: str, dimension: int) -> None:
        from qdrant_client import models

        check_collection_name(name)
        if self.client.collection_exists(name):
            params = self.client.get_collection(name).config.params.vectors
            if params.size != dimension:
                raise VectorStoreError(f"collection {name} holds {params.size}-dimensional vectors, "
                                       f"not {dimension}: a collection is made per model and dimension")
        else:
            self.client.create_collection(name, vectors_config=models.VectorParams(
                size=dimension, distance=models.Distance.COSINE))
            if not self._local:  # the local mode has no payload indexes (it scans)
                for key in KEYWORD_FIELDS:
                    self.client.create_payload_index(name, key, models.KeywordIndexParams(
                        type=models.KeywordIndexType.KEYWORD, is_tenant=key == TENANT))
        self._dimensions[name] = dimension

    def _dimension(self, collection: str) -> int:
        if collection not in self._dimensions:
            if not self.client.collection_exists(collection):
                raise VectorStoreError(f"no collection {collection} in the vector store")
            self._dimensions[collection] = self.client.get_collection(collection).config.params.vectors.size
        return self._dimensions[collection]

    def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        from qdrant_client import models

        if not points:
            return
        dimension = self._dimension(collection)
        structs = [models.PointStruct(id=p.id, vector=check_vector(p.vector, dimension, collection),
                                      payload=dict(p.payload)) for p in points]
        self.client.upsert(collection, points=structs, wait=True)

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        from qdrant_client import models

        if ids and self.client.collection_exists(collection):
            self.client.delete(collection, points_selector=models.PointIdsList(points=list(ids)), wait=True)

    def _filter(self, conditions: Mapping[str, str]) -> Any:
        from qdrant_client import models

        return models.Filter(must=[models.FieldCondition(key=k, match=models.MatchValue(value=v))
                                   for k, v in conditions.items()])

    def search(self, collection: str, vector: np.ndarray | Sequence[float], *, tenant: str,
               filters: Mapping[str, str] | None = None, limit: int = 10) -> list[ScoredHit]:
        conditions = check_search(tenant, filters, limit)
        query = check_vector(vector, self._dimension(collection), collection)
        response = self.client.query_points(collection, query=query, query_filter=self._filter(conditions),
                                            limit=limit, with_payload=True)
        return [ScoredHit(str(p.id), float(p.score), p.payload or {}) for p in response.points]

    def count(self, collection: str, *, tenant: str) -> int:
        conditions = check_search(tenant, None, 1)
        if not self.client.collection_exists(collection):
            return 0
        return int(self.client.count(collection, count_filter=self._filter(conditions), exact=True).count)

    def retrieve(self, collection: str, ids: Sequence[str]) -> list[VectorPoint]:
        records = self.client.retrieve(collection, ids=list(ids), with_payload=True, with_vectors=True)
        return [VectorPoint(str(r.id), np.asarray(r.vector, dtype=np.float32), r.payload or {}) for r in records]

    def collections(self) -> list[str]:
        return sorted(c.name for c in self.client.get_collections().collections)

    def optimize(self) -> None:
        """A server indexes in the background; the local mode has no index."""

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self._lock is not None:
                self._lock.release()
