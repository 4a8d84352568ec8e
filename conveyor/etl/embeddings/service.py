"""One embedding service per worker process: the model, the vector store (whose folder this process
then owns) and the indexer, shared by every embedding and search job the process runs.

Built on the first job, from the CONVEYOR_* settings (config.py), and kept for the life of the
process: loading the model costs about a second, and an embedded store's folder can have only
one owner, so a process opens it once. Jobs of one process take turns on it (a lock): embedding
is CPU-bound and onnxruntime already uses every core for one batch. Searches do not wait for them
where the store allows reads beside writes.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from conveyor.errors import PermanentError
from conveyor.etl.embeddings import bridge_table
from conveyor.etl.embeddings.bridge import EntityKey, EntityText
from conveyor.etl.embeddings.config import EmbeddingSettings, build_embedder, open_store
from conveyor.etl.embeddings.embedder import Embedder
from conveyor.etl.embeddings.folder_lock import FolderLock
from conveyor.etl.embeddings.indexer import SearchHit, VectorIndexer
from conveyor.etl.embeddings.sources import Source
from conveyor.etl.embeddings.vector_store import VectorStore


@dataclass(frozen=True)
class StageResult:
    """What one embedding job did (its job result, and the figures the stage shows)."""

    entities: int  # ids in the item
    embedded: int  # new or changed: embedded now
    unchanged: int  # same text and model: nothing written
    removed: int  # gone from the source (or blank): their points deleted
    points_written: int
    points_deleted: int

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class EmbeddingService:
    def __init__(self, embedder: Embedder, store: VectorStore) -> None:
        self.embedder = embedder
        self.store = store
        self.indexer = VectorIndexer(embedder, store)
        self._lock = threading.Lock()
        # Searches need not wait for an embedding job (minutes for a big item) when the store
        # takes reads beside writes (Qdrant Edge, a server); the embedders are stateless per call.
        self._read_lock: contextlib.AbstractContextManager[Any] = (
            contextlib.nullcontext() if getattr(store, "concurrent_reads", False) else self._lock)

    @classmethod
    def from_settings(cls, settings: EmbeddingSettings) -> EmbeddingService:
        if not settings.qdrant_url:  # another owner: say so now, not after a second of model loading
            FolderLock(settings.vector_dir).acquire().release()
        embedder = build_embedder(settings)  # before the store: a bad model leaves the folder unowned
        return cls(embedder, open_store(settings))

    def embed(self, engine: Engine, tenant: str, source: Source, ids: Sequence[str]) -> StageResult:
        """Bring the points of `ids` of one tenant's table in line with the rows' current text.

        Points are written before their bridge rows (and deleted before them): a crash between the
        two leaves rows that the next attempt repairs, as point ids are fixed by tenant/table/id/chunk
        and so overwrite instead of duplicating."""
        wanted = list(dict.fromkeys(ids))
        with self._lock:
            with engine.connect() as conn:
                texts = list(source.fetch_texts(conn, tenant, wanted))
                existing = bridge_table.rows_of(conn, tenant, source.table, wanted)
            asked = set(wanted)
            strays = sorted({t.external_id for t in texts} - asked)
            if strays:
                raise PermanentError(f"fetch_texts of source {source.table!r} returned ids it was not asked for: "
                                     f"{', '.join(strays[:5])}")
            entities = [EntityText(tenant, source.source_type, source.table, t.external_id, t.text, t.payload)
                        for t in texts]
            present = {e.external_id for e in entities}
            deleted = [EntityKey(tenant, source.table, i) for i in wanted if i not in present]
            result = self.indexer.sync(entities, existing, deleted=deleted)
            with engine.begin() as conn:
                bridge_table.save(conn, result.rows_to_upsert, result.rows_to_delete)
        removed = len({r.external_id for r in result.rows_to_delete} - {r.external_id for r in result.rows_to_upsert})
        return StageResult(entities=len(wanted), embedded=result.embedded_entities, unchanged=result.unchanged,
                           removed=removed, points_written=result.points_written,
                           points_deleted=result.points_deleted)

    def search(self, query: str, *, tenant: str, source_type: str | None = None, project: str | None = None,
               limit: int = 10) -> list[dict[str, Any]]:
        with self._read_lock:
            hits = self.indexer.search(query, tenant=tenant, source_type=source_type, project=project, limit=limit)
        return [hit_dict(h) for h in hits]

    def close(self) -> None:
        self.store.close()


def hit_dict(hit: SearchHit) -> dict[str, Any]:
    """A search hit as the API, the CLI and the dashboard show it."""
    p = hit.payload
    return {"table": hit.table_name, "external_id": hit.external_id, "source_type": hit.source_type,
            "score": round(hit.score, 6), "title": p.get("title"), "snippet": p.get("snippet", ""),
            "url": p.get("url"), "project": p.get("project"), "model": p.get("model")}


_services: dict[EmbeddingSettings, EmbeddingService] = {}
_override: EmbeddingService | None = None
_guard = threading.Lock()


def process_service(settings: EmbeddingSettings | None = None) -> EmbeddingService:
    """This process's service for `settings` (default: from the environment), built once."""
    if _override is not None:
        return _override
    settings = settings or EmbeddingSettings.from_env()
    with _guard:
        service = _services.get(settings)
        if service is None:
            service = EmbeddingService.from_settings(settings)
            _services[settings] = service
            atexit.register(service.close)  # flush the store and give the folder up on a clean exit
        return service


def use_service(service: EmbeddingService | None) -> None:
    """Make this process's jobs use `service` (tests and embedded demos); None restores the default."""
    global _override
    _override = service
