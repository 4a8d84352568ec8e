"""`VectorStore` on Qdrant Edge (`qdrant-edge-py`): Qdrant's engine in-process, HNSW included.

Each collection is one Edge shard in `<folder>/<collection>/`. Writes go through the shard's
write-ahead log, so an acknowledged upsert survives a crash.

Indexing. Edge does not index in the background: points sit in plain segments, which every search
scans (exactly), until `optimize()` builds the HNSW graphs. And `EdgeShard.optimize()` holds the
Python GIL for the whole build (44 s for 8,000 points at load 20 here: no other thread of the
process ran meanwhile), so the worker that owns the store must never call it: its heartbeats
would stop and it would be declared dead. `conveyor embeddings optimize` builds them offline,
with the embedding worker stopped. Collections are laid out for that: the tenant field is
Qdrant's tenant key (`is_tenant`) and there is no global graph (m=0) but one graph per tenant
(payload_m=16), because a walk of one global graph under a 20 % tenant filter found 14-33 % of the
true top 10 (bench/edge_options.py).
"""

from __future__ import annotations

import json
import threading
import uuid
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

# No global graph, one per tenant (Qdrant's multitenancy layout); a tenant or filter matching fewer
# points than full_scan_threshold (KB of vectors: ~6,600 of 384 dimensions) is scanned instead.
TENANT_GRAPHS = {"m": 0, "payload_m": 16, "ef_construct": 100, "full_scan_threshold": 10_000}


def _import_edge() -> Any:
    try:
        import qdrant_edge
    except ImportError as exc:
        raise VectorStoreError("qdrant-edge-py is not installed", action="pip install 'conveyor[embeddings]'") from exc
    return qdrant_edge


class EdgeStore:
    concurrent_reads = True  # searches from other threads while one writes (Edge's shard locks)

    def __init__(self, folder: Path | str, *, exact: bool = False, hnsw_ef: int | None = 128) -> None:
        """Segments not yet optimized are always scanned exactly. Once `conveyor embeddings optimize`
        has built the per-tenant graphs, searches walk them at `hnsw_ef`=128: at 50,000 clustered
        points, recall@10 0.93 and p95 39 ms at load 22-24, against 86 ms for the exact scan in the
        same run (bench/edge_options.py). `exact=True` scans always (recall 1.0)."""
        self.edge = _import_edge()
        self.exact = exact
        self.hnsw_ef = hnsw_ef
        self.folder = Path(folder)
        self._lock = FolderLock(self.folder).acquire()
        self._shards: dict[str, Any] = {}
        self._dimensions: dict[str, int] = {}
        self._guard = threading.Lock()

    def _shard(self, name: str) -> Any:
        with self._guard:
            if name not in self._shards:
                path = self.folder / name
                if not path.is_dir():
                    raise VectorStoreError(f"no collection {name} in the vector store at {self.folder}")
                shard = self.edge.EdgeShard.load(str(path))
                self._shards[name] = shard
                self._dimensions[name] = shard_dimension(path, name)
            return self._shards[name]

    def ensure_collection(self, name: str, dimension: int) -> None:
        check_collection_name(name)
        if (self.folder / name).is_dir():
            self._shard(name)
            if self._dimensions[name] != dimension:
                raise VectorStoreError(f"collection {name} holds {self._dimensions[name]}-dimensional vectors, "
                                       f"not {dimension}: a collection is made per model and dimension")
            return
        e = self.edge
        config = e.EdgeConfig(vectors=e.EdgeVectorParams(size=dimension, distance=e.Distance.Cosine),
                              hnsw_config=e.HnswIndexConfig(**TENANT_GRAPHS))
        with self._guard:
            shard = e.EdgeShard.create(str(self.folder / name), config)
            for key in KEYWORD_FIELDS:  # the tenant index first: the per-tenant graphs are built along it
                schema = e.KeywordIndexParams(is_tenant=True) if key == TENANT else e.PayloadSchemaType.Keyword
                shard.update(e.UpdateOperation.create_field_index(key, schema))
            self._shards[name] = shard
            self._dimensions[name] = dimension

    def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        if not points:
            return
        shard = self._shard(collection)
        dimension = self._dimensions[collection]
        e = self.edge
        batch = [e.Point(uuid.UUID(p.id), check_vector(p.vector, dimension, collection), dict(p.payload))
                 for p in points]
        shard.update(e.UpdateOperation.upsert_points(batch))

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        if ids and (self.folder / collection).is_dir():
            self._shard(collection).update(self.edge.UpdateOperation.delete_points([uuid.UUID(i) for i in ids]))

    def _filter(self, conditions: Mapping[str, str]) -> Any:
        e = self.edge
        return e.Filter(must=[e.FieldCondition(key=k, match=e.MatchValue(v)) for k, v in conditions.items()])

    def search(self, collection: str, vector: np.ndarray | Sequence[float], *, tenant: str,
               filters: Mapping[str, str] | None = None, limit: int = 10) -> list[ScoredHit]:
        conditions = check_search(tenant, filters, limit)
        shard = self._shard(collection)
        query = check_vector(vector, self._dimensions[collection], collection)
        e = self.edge
        params = e.SearchParams(hnsw_ef=self.hnsw_ef, exact=self.exact)
        hits = shard.query(e.QueryRequest(limit=limit, query=e.Query.Nearest(query), with_payload=True,
                                          filter=self._filter(conditions), params=params))
        return [ScoredHit(str(h.id), float(h.score), h.payload or {}) for h in hits]

    def count(self, collection: str, *, tenant: str) -> int:
        conditions = check_search(tenant, None, 1)
        if not (self.folder / collection).is_dir():
            return 0
        return int(self._shard(collection).count(self.edge.CountRequest(exact=True, filter=self._filter(conditions))))

    def retrieve(self, collection: str, ids: Sequence[str]) -> list[VectorPoint]:
        records = self._shard(collection).retrieve([uuid.UUID(i) for i in ids], with_payload=True, with_vector=True)
        return [VectorPoint(str(r.id), np.asarray(r.vector, dtype=np.float32), r.payload or {}) for r in records]

    def collections(self) -> list[str]:
        return sorted(p.name for p in self.folder.iterdir() if p.is_dir())

    def optimize(self) -> None:
        """Build every collection's indexes now (blocks the whole process: see the module doc)."""
        for name in self.collections():
            self._shard(name)
        with self._guard:
            shards = list(self._shards.values())
        for shard in shards:
            shard.optimize()

    def close(self) -> None:
        with self._guard:
            shards, self._shards = list(self._shards.values()), {}
        try:
            for shard in shards:
                shard.flush()
                shard.close()
        finally:
            self._lock.release()


def shard_dimension(folder: Path, name: str) -> int:
    """The default vector's size, from the config Edge persists beside the shard's segments."""
    try:
        config = json.loads((folder / "edge_config.json").read_text())
        return int(config["vectors"][""]["size"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VectorStoreError(f"collection {name} at {folder} has no readable edge_config.json: {exc}") from exc
