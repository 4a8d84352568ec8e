"""The bridge between database rows and Qdrant points, and the pure decision of what to re-embed.

One `VectorRow` per point: a row of the `qdrant_vectors` table (bridge_table.py).
Point ids are uuid5 of tenant/table/external id/chunk, so re-embedding an entity overwrites its
own points and never creates duplicates, on any machine. The decision per entity:

- unchanged  — it has rows, all with the same text hash and model: nothing is written;
- changed    — new, edited, or embedded by another model: embed it, then drop whichever of its
               old points the new ones do not overwrite (fewer chunks, another collection);
- removed    — deleted in the source (or its text became blank): its points and rows go.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SOURCE_TYPES = ("JIRA", "GITHUB")
# Fixed forever: changing it would change every point id.
POINT_NAMESPACE = uuid.UUID("6c1f0a52-3f0e-5b8e-9a59-7d7f4b0f1c2e")


@dataclass(frozen=True, order=True)
class EntityKey:
    tenant: str
    table_name: str
    external_id: str


@dataclass(frozen=True)
class EntityText:
    """One database entity to be searchable: its text, and what search results show about it."""

    tenant: str
    source_type: str  # JIRA or GITHUB
    table_name: str  # work_items, pull_requests, projects, repositories...
    external_id: str  # PROJ-123, owner/repo#42...
    text: str
    payload: Mapping[str, Any] = field(default_factory=dict)  # title, url, project, ...

    def __post_init__(self) -> None:
        check_entity_fields(self.tenant, self.source_type, self.table_name, self.external_id)
        if not isinstance(self.text, str):
            raise ValueError(f"text of {self.table_name}/{self.external_id} must be a string, "
                             f"got {type(self.text).__name__}")

    @property
    def key(self) -> EntityKey:
        return EntityKey(self.tenant, self.table_name, self.external_id)


@dataclass(frozen=True)
class VectorRow:
    """A row of the `qdrant_vectors` bridge table: where one chunk of one entity lives in Qdrant."""

    tenant: str
    source_type: str
    table_name: str
    external_id: str
    chunk: int
    point_id: str
    collection: str
    model: str
    text_hash: str
    created_at: datetime
    updated_at: datetime
    dimension: int = 0  # of the model's vectors (0: not known, rows made before it was recorded)

    @property
    def key(self) -> EntityKey:
        return EntityKey(self.tenant, self.table_name, self.external_id)


@dataclass
class SyncPlan:
    unchanged: list[EntityKey] = field(default_factory=list)
    to_embed: list[EntityText] = field(default_factory=list)
    rows_to_delete: list[VectorRow] = field(default_factory=list)  # removed entities' rows

    @property
    def writes_nothing(self) -> bool:
        return not self.to_embed and not self.rows_to_delete


def check_entity_fields(tenant: str, source_type: str, table_name: str, external_id: str) -> None:
    for name, value in (("tenant", tenant), ("table_name", table_name), ("external_id", external_id)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    if source_type not in SOURCE_TYPES:
        raise ValueError(f"source_type must be one of {', '.join(SOURCE_TYPES)}, got {source_type!r}")


def point_id(tenant: str, table_name: str, external_id: str, chunk: int) -> str:
    return str(uuid.uuid5(POINT_NAMESPACE, f"{tenant}/{table_name}/{external_id}/{chunk}"))


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def collection_name(model_id: str, dimension: int) -> str:
    """One collection per model and dimension: vectors of two models are never compared."""
    slug = re.sub(r"[^a-z0-9]+", "_", model_id.lower()).strip("_")
    return f"conveyor_{slug}_{dimension}"


def plan_sync(existing: Iterable[VectorRow], entities: Iterable[EntityText], model_id: str, *,
              deleted: Iterable[EntityKey] = (), complete: bool = False) -> SyncPlan:
    """Decide, without I/O, what the embedding stage must do.

    `existing`: bridge rows of the entities concerned. `entities`: their current texts.
    `deleted`: keys the source reports as deleted. `complete=True` says `entities` is everything
    that currently exists for the scope of `existing`, so any other key with rows was removed.
    """
    rows_by_key: dict[EntityKey, list[VectorRow]] = defaultdict(list)
    for row in existing:
        rows_by_key[row.key].append(row)
    plan = SyncPlan()
    seen: set[EntityKey] = set()
    removed = set(deleted)
    for entity in entities:
        key = entity.key
        if key in seen:
            raise ValueError(f"entity {key.table_name}/{key.external_id} of tenant {key.tenant} given twice")
        seen.add(key)
        if key in removed:
            continue
        if not entity.text.strip():
            removed.add(key)  # nothing left to search for
            continue
        rows = rows_by_key.get(key, [])
        digest = text_hash(entity.text)
        if rows and all(r.text_hash == digest and r.model == model_id for r in rows):
            plan.unchanged.append(key)
        else:
            plan.to_embed.append(entity)
    if complete:
        removed |= set(rows_by_key) - seen
    for key in sorted(removed):
        plan.rows_to_delete.extend(rows_by_key.get(key, []))
    return plan


def stale_rows(old_rows: Iterable[VectorRow], new_rows: Iterable[VectorRow]) -> list[VectorRow]:
    """Old rows of re-embedded entities whose points the new rows do not overwrite."""
    kept = {(r.collection, r.point_id) for r in new_rows}
    return [r for r in old_rows if (r.collection, r.point_id) not in kept]
