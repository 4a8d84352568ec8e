"""The embedding stage's work on both engines with the real model: the bridge table, unchanged rows
not re-embedded, edits, deletions, tenant isolation, bad items refused with nothing changed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, delete, func, insert, select, update

from conveyor.errors import PermanentError
from conveyor.etl.db import declared_columns_missing, domain_engine
from conveyor.etl.embeddings import bridge_table
from conveyor.etl.embeddings.bridge_table import qdrant_vectors
from conveyor.etl.embeddings.edge_store import EdgeStore
from conveyor.etl.embeddings.service import EmbeddingService
from conveyor.etl.embeddings.sources import SourceError, get_source, register_source
from conveyor.etl.embeddings.stage import embedding_items, parse_item
from tests.embedding_tasks import notes, test_metadata

NOTES = {
    "N-1": ("Login fails for unicode passwords", "Users cannot sign in when the password has accented letters."),
    "N-2": ("Dark theme for settings", "Add a dark colour scheme to the settings page."),
    "N-3": ("EMEA missing from revenue report", "The quarterly revenue report leaves out the EMEA region."),
    "N-4": ("Upgrade the database driver", "Check the connection pool settings after the upgrade. " * 60),
}


@pytest.fixture
def domain(app: Any) -> Iterator[Engine]:
    """The app's database (migrated: qdrant_vectors exists) with the test source table, emptied."""
    engine = domain_engine(app.settings.database_url)
    test_metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(delete(notes))
        conn.execute(delete(qdrant_vectors))
    yield engine
    engine.dispose()


def add_notes(engine: Engine, tenant: str, rows: dict[str, tuple[str, str]], project: str = "P") -> None:
    with engine.begin() as conn:
        conn.execute(insert(notes), [{"tenant": tenant, "key": k, "title": t, "body": b, "project": project,
                                      "url": f"https://tracker.example/{tenant}/{k}"} for k, (t, b) in rows.items()])


@pytest.fixture
def service(minilm: Any, tmp_path: Path) -> Iterator[EmbeddingService]:
    svc = EmbeddingService(minilm, EdgeStore(tmp_path / "vectors"))
    yield svc
    svc.close()


def bridge(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(qdrant_vectors).order_by(
            qdrant_vectors.c.tenant, qdrant_vectors.c.external_id, qdrant_vectors.c.chunk))]


def test_the_bridge_table_declaration_matches_migration_0013(domain: Engine) -> None:
    assert declared_columns_missing(domain, [qdrant_vectors]) == {}


def test_stage_records_model_and_dimension_and_skips_unchanged_rows(domain: Engine, service: EmbeddingService) -> None:
    add_notes(domain, "acme", NOTES)
    source = get_source("test_notes")
    first = service.embed(domain, "acme", source, list(NOTES))
    assert (first.embedded, first.unchanged, first.removed) == (4, 0, 0)
    rows = bridge(domain)
    assert len(rows) == first.points_written > 4  # N-4 is long: several chunks
    with domain.connect() as conn:
        vrows = bridge_table.rows_of(conn, "acme", "test_notes", list(NOTES))
    assert {(r.model, r.dimension, r.source_type) for r in vrows} == {(service.embedder.model_id, 384, "JIRA")}
    points = service.store.retrieve(service.indexer.collection, [r.point_id for r in vrows])
    assert len(points) == len(vrows)
    norms = [np.linalg.norm(np.asarray(p.vector)) for p in points]
    assert all(len(p.vector) == 384 for p in points) and np.allclose(norms, 1.0, atol=1e-5)
    assert all(p.payload["model"] == service.embedder.model_id and p.payload["dimension"] == 384 for p in points)

    again = service.embed(domain, "acme", source, list(NOTES))
    assert (again.embedded, again.unchanged, again.points_written, again.points_deleted) == (0, 4, 0, 0)
    assert bridge(domain) == rows  # not even updated_at moved
    assert service.store.count(service.indexer.collection, tenant="acme") == len(rows)


def test_an_edit_re_embeds_only_that_row_and_a_deletion_removes_its_points(
        domain: Engine, service: EmbeddingService) -> None:
    add_notes(domain, "acme", NOTES)
    source = get_source("test_notes")
    service.embed(domain, "acme", source, list(NOTES))
    before = {(r[0], r[1]): r for r in bridge(domain)}
    with domain.begin() as conn:
        conn.execute(update(notes).where(notes.c.key == "N-2").values(body="Offer a high-contrast dark mode."))
        conn.execute(delete(notes).where(notes.c.key == "N-4"))
    result = service.embed(domain, "acme", source, list(NOTES))
    assert (result.embedded, result.unchanged, result.removed) == (1, 2, 1)
    after = {(r[0], r[1]): r for r in bridge(domain)}
    changed = {k for k in after if after[k] != before.get(k)}
    assert {after[k][5] for k in changed} == {"N-2"}  # external_id column
    assert "N-4" not in {r[5] for r in after.values()}
    gone = [k[1] for k, r in before.items() if r[5] == "N-4"]
    assert service.store.retrieve(service.indexer.collection, gone) == []
    assert service.store.count(service.indexer.collection, tenant="acme") == len(after)
    hits = service.search("high contrast dark mode", tenant="acme")
    assert hits[0]["external_id"] == "N-2" and "high-contrast" in hits[0]["snippet"]


def test_search_finds_the_paraphrase_first_and_never_another_tenants_rows(
        domain: Engine, service: EmbeddingService) -> None:
    add_notes(domain, "acme", NOTES)
    add_notes(domain, "globex", {"N-1": ("Fix sign-in with accented passwords", "Passwords with é fail."),
                                 "N-9": ("Unrelated", "Office plants need watering.")}, project="G")
    source = get_source("test_notes")
    service.embed(domain, "acme", source, list(NOTES))
    service.embed(domain, "globex", source, ["N-1", "N-9"])
    hits = service.search("people can't log in if their password has accents", tenant="acme", limit=4)
    assert hits[0]["external_id"] == "N-1" and hits[0]["title"] == NOTES["N-1"][0]
    assert hits[0]["url"] == "https://tracker.example/acme/N-1" and hits[0]["table"] == "test_notes"
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert {h["project"] for h in hits} == {"P"}  # globex's project G never shows
    assert {h["external_id"] for h in service.search("office plants watering", tenant="globex")} == {"N-1", "N-9"}
    assert service.search("office plants", tenant="acme", source_type="GITHUB") == []
    assert service.search("office plants", tenant="acme", project="G") == []
    # Re-embedding one tenant never touches the other's rows.
    with domain.connect() as conn:
        assert conn.execute(select(func.count()).where(qdrant_vectors.c.tenant == "globex")).scalar() == 2


def test_a_search_does_not_wait_for_an_embedding_job(domain: Engine, service: EmbeddingService) -> None:
    add_notes(domain, "acme", NOTES)
    service.embed(domain, "acme", get_source("test_notes"), list(NOTES))
    answers: list[Any] = []
    with service._lock:  # as an embedding job in another thread holds it
        searcher = threading.Thread(target=lambda: answers.append(service.search("dark theme", tenant="acme")))
        searcher.start()
        searcher.join(30)
        assert answers and answers[0][0]["external_id"] == "N-2"


@pytest.mark.parametrize("item, message", [
    ("N-1", "an embedding item is"),
    ({"table": "test_notes", "ids": ["N-1"], "extra": 1}, "unknown key"),
    ({"table": "test_notes", "ids": []}, "list of 1 to"),
    ({"table": "test_notes", "ids": ["N-1", None]}, "non-empty strings"),
    ({"table": "", "ids": ["N-1"]}, "registered source table"),
    ({"tenant": "globex", "table": "test_notes", "ids": ["N-1"]}, "belongs to tenant 'acme'"),
])
def test_bad_items_are_refused_permanently(item: Any, message: str) -> None:
    with pytest.raises(PermanentError, match=message):
        parse_item(item, "acme")


def test_unknown_tables_and_bad_registrations_are_clear_errors() -> None:
    with pytest.raises(PermanentError, match="no embedding source is registered for table 'nope'"):
        get_source("nope")
    with pytest.raises(SourceError, match="source_type"):
        register_source("x_table", "JIRAA", lambda conn, tenant, ids: [])
    with pytest.raises(SourceError, match="not a table name"):
        register_source("drop table;", "JIRA", lambda conn, tenant, ids: [])
    with pytest.raises(SourceError, match="already registered"):
        register_source("test_notes", "GITHUB", lambda conn, tenant, ids: [])


def test_embedding_items_split_ids_and_drop_repeats() -> None:
    items = embedding_items("acme", "work_items", [f"P-{i}" for i in range(5)] + ["P-0", 7], per_item=2)
    assert items == [{"tenant": "acme", "table": "work_items", "ids": ["P-0", "P-1"]},
                     {"tenant": "acme", "table": "work_items", "ids": ["P-2", "P-3"]},
                     {"tenant": "acme", "table": "work_items", "ids": ["P-4", "7"]}]
    assert parse_item(items[0], "default") == ("acme", "work_items", ["P-0", "P-1"])
