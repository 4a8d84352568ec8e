"""Chunking and the pure bridge decision (no model, no store)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from conveyor.etl.embeddings import (
    EntityKey,
    EntityText,
    VectorRow,
    chunk_text,
    collection_name,
    plan_sync,
    point_id,
    stale_rows,
    text_hash,
)
from conveyor.etl.embeddings.embedder import approximate_token_spans

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MODEL = "m"


def entity(ext: str, text: str, tenant: str = "t1") -> EntityText:
    return EntityText(tenant, "JIRA", "work_items", ext, text)


def rows_for(e: EntityText, chunks: int = 1, model: str = MODEL, text: str | None = None) -> list[VectorRow]:
    return [VectorRow(e.tenant, e.source_type, e.table_name, e.external_id, c,
                      point_id(e.tenant, e.table_name, e.external_id, c), collection_name(model, 4), model,
                      text_hash(e.text if text is None else text), T0, T0) for c in range(chunks)]


def test_short_text_is_one_chunk_and_blank_text_none() -> None:
    assert [c.text for c in chunk_text("  a short text ", approximate_token_spans, 256)] == ["a short text"]
    assert chunk_text(" \n ", approximate_token_spans, 256) == []


def test_long_text_chunks_fit_the_window_overlap_and_cover_everything() -> None:
    words = [f"w{i}" for i in range(1000)]
    text = " ".join(words)
    chunks = chunk_text(text, approximate_token_spans, max_tokens=66, overlap=8)
    assert len(chunks) > 15
    for c in chunks:
        assert len(approximate_token_spans(c.text)) <= 64
        assert c.text == text[c.start:c.end]
    covered = set()
    for c in chunks:
        covered |= set(c.text.split())
    assert covered == set(words)
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert set(a.text.split()[-8:]) <= set(b.text.split())  # the overlap


def test_chunks_do_not_cut_inside_a_word(minilm) -> None:  # type: ignore[no-untyped-def]
    text = " ".join(["internationalization"] * 300)  # several word pieces each
    chunks = chunk_text(text, minilm.token_spans, minilm.max_tokens, overlap=16)
    assert len(chunks) >= 2
    for c in chunks:
        assert set(c.text.split()) == {"internationalization"}
        assert len(minilm.token_spans(c.text)) <= minilm.max_tokens - 2


def test_chunking_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="overlap"):
        chunk_text("x", approximate_token_spans, 64, overlap=40)
    with pytest.raises(ValueError, match="no room"):
        chunk_text("x", approximate_token_spans, 4)


def test_point_ids_are_stable_uuid5_per_tenant_table_id_chunk() -> None:
    a = point_id("t1", "work_items", "P-1", 0)
    assert uuid.UUID(a).version == 5
    assert a == point_id("t1", "work_items", "P-1", 0)
    assert len({a, point_id("t2", "work_items", "P-1", 0), point_id("t1", "pull_requests", "P-1", 0),
                point_id("t1", "work_items", "P-2", 0), point_id("t1", "work_items", "P-1", 1)}) == 5


def test_plan_skips_unchanged_embeds_new_and_changed() -> None:
    same, edited, new = entity("P-1", "same"), entity("P-2", "edited now"), entity("P-3", "new")
    existing = rows_for(same, 2) + rows_for(edited, 1, text="before edit")
    plan = plan_sync(existing, [same, edited, new], MODEL)
    assert plan.unchanged == [same.key]
    assert plan.to_embed == [edited, new]
    assert plan.rows_to_delete == []


def test_plan_reembeds_everything_after_a_model_change() -> None:
    e = entity("P-1", "text")
    plan = plan_sync(rows_for(e, model="old-model"), [e], MODEL)
    assert plan.to_embed == [e]


def test_plan_deletes_removed_entities() -> None:
    kept, gone, blanked = entity("P-1", "a"), entity("P-2", "b"), entity("P-3", "c")
    existing = rows_for(kept) + rows_for(gone, 3) + rows_for(blanked)
    plan = plan_sync(existing, [kept, entity("P-3", "   ")], MODEL, deleted=[gone.key])
    assert {r.external_id for r in plan.rows_to_delete} == {"P-2", "P-3"}
    assert len(plan.rows_to_delete) == 4
    # complete=True: anything with rows that is not in the batch was removed at the source.
    plan = plan_sync(existing, [kept], MODEL, complete=True)
    assert {r.external_id for r in plan.rows_to_delete} == {"P-2", "P-3"}
    assert plan_sync(existing, [kept], MODEL).rows_to_delete == []


def test_plan_refuses_an_entity_given_twice_and_bad_fields() -> None:
    with pytest.raises(ValueError, match="given twice"):
        plan_sync([], [entity("P-1", "a"), entity("P-1", "b")], MODEL)
    with pytest.raises(ValueError, match="source_type"):
        EntityText("t", "JIRAA", "work_items", "P-1", "x")
    with pytest.raises(ValueError, match="tenant"):
        EntityText("", "JIRA", "work_items", "P-1", "x")


def test_stale_rows_are_the_old_points_not_overwritten() -> None:
    e = entity("P-1", "x")
    old = rows_for(e, 3)
    new = rows_for(e, 1)
    assert [r.chunk for r in stale_rows(old, new)] == [1, 2]
    assert EntityKey("t1", "work_items", "P-1") == e.key
