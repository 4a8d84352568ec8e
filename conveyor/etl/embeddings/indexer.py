"""Embed entities into the vector store and report the bridge rows to keep, and semantic search.

`VectorIndexer.sync` runs the pure plan (bridge.plan_sync), chunks and embeds what changed in
model-sized batches, writes points, and returns the bridge rows to upsert and to delete; the
caller persists those in `qdrant_vectors`. Order is what makes a crash harmless: points are
written before their rows, and stale points deleted before their rows, so a crash at any step
leaves rows that the next run repairs (same point ids overwrite, deletes repeat).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from conveyor.etl.embeddings.bridge import (
    EntityKey,
    EntityText,
    VectorRow,
    collection_name,
    plan_sync,
    point_id,
    stale_rows,
    text_hash,
)
from conveyor.etl.embeddings.chunking import chunk_text
from conveyor.etl.embeddings.embedder import Embedder
from conveyor.etl.embeddings.vector_store import ScoredHit, VectorPoint, VectorStore

SNIPPET = 240  # characters of the matching chunk kept in each point's payload


@dataclass
class SyncResult:
    rows_to_upsert: list[VectorRow] = field(default_factory=list)
    rows_to_delete: list[VectorRow] = field(default_factory=list)
    unchanged: int = 0
    embedded_entities: int = 0
    points_written: int = 0
    points_deleted: int = 0


@dataclass(frozen=True)
class SearchHit:
    """One entity found by a search (its best-scoring chunk)."""

    tenant: str
    source_type: str
    table_name: str
    external_id: str
    score: float
    chunk: int
    payload: Mapping[str, Any]


class VectorIndexer:
    def __init__(self, embedder: Embedder, store: VectorStore, *, chunk_overlap: int = 32,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.embedder = embedder
        self.store = store
        self.chunk_overlap = chunk_overlap
        self.clock = clock
        self.collection = collection_name(embedder.model_id, embedder.dimension)

    def sync(self, entities: Iterable[EntityText], existing: Iterable[VectorRow], *,
             deleted: Iterable[EntityKey] = (), complete: bool = False) -> SyncResult:
        existing = list(existing)
        model = self.embedder.model_id
        plan = plan_sync(existing, entities, model, deleted=deleted, complete=complete)
        result = SyncResult(unchanged=len(plan.unchanged), embedded_entities=len(plan.to_embed))
        if plan.writes_nothing:
            return result
        old_by_key: dict[EntityKey, list[VectorRow]] = {}
        for row in existing:
            old_by_key.setdefault(row.key, []).append(row)
        self.store.ensure_collection(self.collection, self.embedder.dimension)
        now = self.clock()
        # (entity, chunk index, chunk text) for every chunk to embed, in batches of the model's size.
        pending = [(entity, chunk.index, chunk.text) for entity in plan.to_embed
                   for chunk in chunk_text(entity.text, self.embedder.token_spans, self.embedder.max_tokens,
                                           self.chunk_overlap)]
        # Chunks of similar length share a batch: less padding, as sentence-transformers does.
        pending.sort(key=lambda item: len(item[2]))
        size = max(1, self.embedder.batch_size)
        for start in range(0, len(pending), size):
            batch = pending[start:start + size]
            vectors = self.embedder.embed([text for _, _, text in batch]).vectors
            points, rows = [], []
            for (entity, chunk, text), vector in zip(batch, vectors, strict=True):
                row = self._row(entity, chunk, now, old_by_key.get(entity.key, []))
                rows.append(row)
                points.append(VectorPoint(row.point_id, vector, self._payload(entity, row, text)))
            self.store.upsert(self.collection, points)
            result.rows_to_upsert.extend(rows)
            result.points_written += len(points)
        embedded_keys = {e.key for e in plan.to_embed}
        stale = stale_rows([r for r in existing if r.key in embedded_keys], result.rows_to_upsert)
        result.rows_to_delete = stale + plan.rows_to_delete
        by_collection: dict[str, list[str]] = {}
        for row in result.rows_to_delete:
            by_collection.setdefault(row.collection, []).append(row.point_id)
        for collection, ids in by_collection.items():
            self.store.delete(collection, ids)
            result.points_deleted += len(ids)
        return result

    def _row(self, entity: EntityText, chunk: int, now: datetime, old: list[VectorRow]) -> VectorRow:
        pid = point_id(entity.tenant, entity.table_name, entity.external_id, chunk)
        created = next((r.created_at for r in old if r.point_id == pid and r.collection == self.collection), now)
        return VectorRow(entity.tenant, entity.source_type, entity.table_name, entity.external_id, chunk, pid,
                         self.collection, self.embedder.model_id, text_hash(entity.text), created, now,
                         self.embedder.dimension)

    def _payload(self, entity: EntityText, row: VectorRow, chunk_text: str) -> dict[str, Any]:
        payload = {k: v for k, v in entity.payload.items() if v is not None}
        # What a search result shows under the title: the start of the chunk that matched.
        snippet = " ".join(chunk_text.split())
        payload.update(tenant=entity.tenant, source_type=entity.source_type, table_name=entity.table_name,
                       external_id=entity.external_id, chunk=row.chunk, model=row.model, dimension=row.dimension,
                       snippet=snippet if len(snippet) <= SNIPPET else snippet[:SNIPPET - 1].rstrip() + "…")
        return payload

    def search(self, query: str, *, tenant: str, source_type: str | None = None, project: str | None = None,
               limit: int = 10) -> list[SearchHit]:
        """Entities of `tenant` closest to `query`, best first, one hit per entity."""
        if not isinstance(query, str) or not query.strip():
            raise ValueError("the search query must be a non-empty string")
        filters = {k: v for k, v in (("source_type", source_type), ("project", project)) if v}
        vector = self.embedder.embed([query]).vectors[0]
        if self.collection not in self.store.collections():
            return []
        # Several chunks of one entity may match: ask for more, keep each entity's best.
        hits: list[ScoredHit] = self.store.search(self.collection, vector, tenant=tenant, filters=filters,
                                                  limit=min(1000, limit * 4))
        best: dict[tuple[str, str], SearchHit] = {}
        for hit in hits:
            p = hit.payload
            key = (str(p.get("table_name")), str(p.get("external_id")))
            if key not in best:
                best[key] = SearchHit(str(p.get("tenant")), str(p.get("source_type")), key[0], key[1],
                                      hit.score, int(p.get("chunk", 0)), p)
        return sorted(best.values(), key=lambda h: -h.score)[:limit]
