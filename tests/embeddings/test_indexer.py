"""The indexer with the real model on both embedded stores: idempotent upserts, edits, deletes,
tenant isolation, search."""

from __future__ import annotations

import numpy as np
import pytest

from conveyor.etl.embeddings import EntityText, StandInEmbedder, VectorIndexer, VectorRow, VectorStoreError
from conveyor.etl.embeddings.vector_store import VectorPoint, VectorStore

ITEMS = {
    "P-1": "Users cannot sign in when their password contains non-ASCII characters.",
    "P-2": "Add a dark theme to the settings page.",
    "P-3": "Quarterly revenue report is missing the EMEA region.",
    "P-4": "Upgrade the database driver to the latest release. " + "Check connection pooling settings. " * 80,
}


def items(tenant: str = "acme", **overrides: str) -> list[EntityText]:
    texts = {**ITEMS, **overrides}
    return [EntityText(tenant, "JIRA", "work_items", key, text, {"project": "P", "title": text[:40]})
            for key, text in texts.items()]


def snapshot(store: VectorStore, indexer: VectorIndexer, rows: list[VectorRow]) -> dict[str, tuple]:
    points = store.retrieve(indexer.collection, [r.point_id for r in rows])
    return {p.id: (tuple(np.round(np.asarray(p.vector), 6)), tuple(sorted(p.payload.items()))) for p in points}


def test_sync_embeds_chunks_and_is_idempotent(minilm, store: VectorStore) -> None:  # type: ignore[no-untyped-def]
    indexer = VectorIndexer(minilm, store)
    first = indexer.sync(items(), [])
    assert first.embedded_entities == 4 and first.unchanged == 0
    chunks = {r.external_id: 0 for r in first.rows_to_upsert}
    for r in first.rows_to_upsert:
        chunks[r.external_id] += 1
    assert chunks["P-1"] == 1 and chunks["P-4"] >= 2  # the long one is chunked
    assert all(r.model == minilm.model_id for r in first.rows_to_upsert)
    assert store.count(indexer.collection, tenant="acme") == len(first.rows_to_upsert)
    before = snapshot(store, indexer, first.rows_to_upsert)

    again = indexer.sync(items(), first.rows_to_upsert)
    assert (again.rows_to_upsert, again.rows_to_delete, again.points_written) == ([], [], 0)
    assert again.unchanged == 4
    assert snapshot(store, indexer, first.rows_to_upsert) == before


def test_an_edit_replaces_only_that_entitys_points(minilm, store: VectorStore) -> None:  # type: ignore[no-untyped-def]
    indexer = VectorIndexer(minilm, store)
    rows = indexer.sync(items(), []).rows_to_upsert
    before = snapshot(store, indexer, rows)
    # P-4 shrinks to one chunk: its other chunks must go; nothing else is touched.
    result = indexer.sync(items(**{"P-4": "Upgrade the database driver."}), rows)
    assert {r.external_id for r in result.rows_to_upsert} == {"P-4"}
    assert result.rows_to_delete and {r.external_id for r in result.rows_to_delete} == {"P-4"}
    after_rows = [r for r in rows if r not in result.rows_to_delete and r.external_id != "P-4"] + result.rows_to_upsert
    after = snapshot(store, indexer, after_rows)
    assert {k: v for k, v in after.items() if k in before and k not in {r.point_id for r in result.rows_to_upsert}} \
        == {k: v for k, v in before.items() if k in after and k not in {r.point_id for r in result.rows_to_upsert}}
    assert store.retrieve(indexer.collection, [r.point_id for r in result.rows_to_delete]) == []
    assert store.count(indexer.collection, tenant="acme") == len(after_rows)
    p4_row = next(r for r in result.rows_to_upsert if r.chunk == 0)
    old_p4 = next(r for r in rows if r.external_id == "P-4" and r.chunk == 0)
    assert p4_row.created_at == old_p4.created_at and p4_row.text_hash != old_p4.text_hash


def test_a_deleted_entity_loses_its_points(minilm, store: VectorStore) -> None:  # type: ignore[no-untyped-def]
    indexer = VectorIndexer(minilm, store)
    rows = indexer.sync(items(), []).rows_to_upsert
    remaining = [e for e in items() if e.external_id != "P-4"]
    result = indexer.sync(remaining, rows, complete=True)
    gone = [r for r in rows if r.external_id == "P-4"]
    assert sorted(r.point_id for r in result.rows_to_delete) == sorted(r.point_id for r in gone)
    assert store.retrieve(indexer.collection, [r.point_id for r in gone]) == []
    hits = indexer.search("database driver upgrade", tenant="acme")
    assert "P-4" not in {h.external_id for h in hits}


def test_search_finds_the_paraphrased_item_first_and_never_another_tenant(minilm, store: VectorStore) -> None:  # type: ignore[no-untyped-def]
    indexer = VectorIndexer(minilm, store)
    indexer.sync(items("acme"), [])
    other = [EntityText("globex", "GITHUB", "pull_requests", "g/r#1",
                        "Fix login failure for passwords with accented letters", {"project": "g/r"})]
    indexer.sync(other, [])
    hits = indexer.search("login fails for passwords with accented letters", tenant="acme")
    assert hits[0].external_id == "P-1"
    assert all(h.tenant == "acme" for h in hits) and len(hits) == 4
    assert [h.external_id for h in indexer.search("login password", tenant="globex")] == ["g/r#1"]
    assert indexer.search("login password", tenant="acme", source_type="GITHUB") == []
    assert indexer.search("login password", tenant="nobody") == []
    assert hits[0].payload["title"].startswith("Users cannot sign in")


def test_store_refuses_bad_requests(store: VectorStore) -> None:
    store.ensure_collection("c", 4)
    with pytest.raises(VectorStoreError, match="4-dimensional"):
        store.upsert("c", [VectorPoint("00000000-0000-0000-0000-000000000001", [1.0, 0.0], {"tenant": "a"})])
    with pytest.raises(VectorStoreError, match="name its tenant"):
        store.search("c", [1, 0, 0, 0], tenant="")
    with pytest.raises(VectorStoreError, match="tenant argument"):
        store.search("c", [1, 0, 0, 0], tenant="a", filters={"tenant": "b"})
    with pytest.raises(VectorStoreError, match="cannot filter"):
        store.search("c", [1, 0, 0, 0], tenant="a", filters={"secret": "x"})
    with pytest.raises(VectorStoreError, match="not 8"):
        store.ensure_collection("c", 8)
    with pytest.raises(VectorStoreError, match="NaN"):
        store.upsert("c", [VectorPoint("00000000-0000-0000-0000-000000000001", [np.nan, 0, 0, 0], {})])


def test_stand_in_embedder_batches_by_model_size(store: VectorStore) -> None:
    embedder = StandInEmbedder(16, batch_size=3)
    indexer = VectorIndexer(embedder, store)
    entities = [EntityText("t", "JIRA", "work_items", f"P-{i}", f"item number {i}") for i in range(8)]
    result = indexer.sync(entities, [])
    assert embedder.calls == [3, 3, 2] and result.points_written == 8
    vectors = embedder.embed(["same text", "same text"]).vectors
    assert np.array_equal(vectors[0], vectors[1]) and np.isclose(np.linalg.norm(vectors[0]), 1.0)
