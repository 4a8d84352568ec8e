"""The vector store contract: collections of unit vectors with payload, searched per tenant.

Two implementations share it: `QdrantStore` (qdrant-client: a Qdrant server URL in production,
or its local mode on a folder) and `EdgeStore` (Qdrant Edge, the in-process engine, on a folder).
Every search and count names a tenant, and the tenant is always a filter condition: no call of
this contract can return another tenant's points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from conveyor.errors import ConveyorError

# Payload fields every point carries and that searches filter on (keyword indexes on a server).
TENANT = "tenant"
KEYWORD_FIELDS = ("tenant", "source_type", "table_name", "external_id", "project")


class VectorStoreError(ConveyorError):
    """The vector store refused an operation (wrong dimension, unknown collection, bad filter)."""


@dataclass(frozen=True)
class VectorPoint:
    id: str
    vector: np.ndarray | Sequence[float]
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoredHit:
    id: str
    score: float
    payload: Mapping[str, Any]


class VectorStore(Protocol):
    def ensure_collection(self, name: str, dimension: int) -> None:
        """Create the collection (cosine distance) if missing; refuse one of another dimension."""
        ...

    def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None: ...

    def delete(self, collection: str, ids: Sequence[str]) -> None: ...

    def search(self, collection: str, vector: np.ndarray | Sequence[float], *, tenant: str,
               filters: Mapping[str, str] | None = None, limit: int = 10) -> list[ScoredHit]: ...

    def count(self, collection: str, *, tenant: str) -> int: ...

    def retrieve(self, collection: str, ids: Sequence[str]) -> list[VectorPoint]: ...

    def collections(self) -> list[str]: ...

    def optimize(self) -> None:
        """Build indexes now rather than lazily (an embedded store after a bulk load)."""
        ...

    def close(self) -> None: ...


def check_search(tenant: str, filters: Mapping[str, str] | None, limit: int) -> dict[str, str]:
    """Validated filter conditions, the tenant always among them."""
    if not isinstance(tenant, str) or not tenant:
        raise VectorStoreError(f"a search must name its tenant, got {tenant!r}")
    if not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise VectorStoreError(f"limit must be an integer between 1 and 1000, got {limit!r}")
    conditions = {TENANT: tenant}
    for key, value in (filters or {}).items():
        if key == TENANT:
            raise VectorStoreError("the tenant is given by the tenant argument, not by a filter")
        if key not in KEYWORD_FIELDS:
            raise VectorStoreError(f"cannot filter on {key!r}; filterable fields: {', '.join(KEYWORD_FIELDS[1:])}")
        if not isinstance(value, str) or not value:
            raise VectorStoreError(f"filter {key} must be a non-empty string, got {value!r}")
        conditions[key] = value
    return conditions


def check_vector(vector: np.ndarray | Sequence[float], dimension: int, collection: str) -> list[float]:
    array = np.asarray(vector, dtype=np.float32).reshape(-1)
    if array.shape[0] != dimension:
        raise VectorStoreError(f"collection {collection} holds {dimension}-dimensional vectors, "
                               f"got one of {array.shape[0]}")
    if not np.isfinite(array).all():
        raise VectorStoreError(f"vector for collection {collection} has NaN or infinite values")
    return array.tolist()


def check_collection_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise VectorStoreError(f"collection name {name!r} must be letters, digits, '_' or '-'")
