"""Re-embedding a tenant after a model change: one command, run as a pipeline, on both engines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select

from conveyor import Conveyor
from conveyor.cli import main as cli_main
from conveyor.etl.embeddings.bridge import collection_name
from conveyor.etl.embeddings.bridge_table import qdrant_vectors
from conveyor.etl.embeddings.edge_store import EdgeStore
from conveyor.etl.embeddings.service import EmbeddingService, use_service
from conveyor.etl.embeddings.sources import get_source
from conveyor.etl.embeddings.stand_in import StandInEmbedder
from tests.embedding_tasks import notes
from tests.embeddings.test_stage import NOTES, add_notes, domain  # noqa: F401 - the fixture


def test_reindex_moves_a_tenant_to_the_new_model(app: Conveyor, domain: Engine, tmp_path: Path,  # noqa: F811
                                                 start_worker: Any, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "vectors"
    old = EmbeddingService(StandInEmbedder(64, model_id="test/model-a"), EdgeStore(folder))
    add_notes(domain, "acme", NOTES)
    add_notes(domain, "globex", {"G-1": ("Globex note", "Stays on the old model.")})
    old.embed(domain, "acme", get_source("test_notes"), list(NOTES))
    old.embed(domain, "globex", get_source("test_notes"), ["G-1"])
    old.close()
    with domain.begin() as conn:
        conn.execute(delete(notes).where(notes.c.key == "N-3"))  # deleted since: must lose its points

    new = EmbeddingService(StandInEmbedder(32, model_id="test/model-b"), EdgeStore(folder))
    use_service(new)
    try:
        start_worker(["embedding"], concurrency=2)
        cli = ["--database-url", app.settings.database_url, "--app", "tests.tasks:app"]
        code = cli_main(["embeddings", "reindex", "--tenant", "acme", "--per-item", "2", "--wait", "60", *cli])
        out = capsys.readouterr().out
        assert code == 0 and "FINISHED" in out and "embedding=finished" in out, out
        with domain.connect() as conn:
            rows = list(conn.execute(select(qdrant_vectors)))
        acme = [r for r in rows if r.tenant == "acme"]
        assert {(r.model, r.dimension) for r in acme} == {("test/model-b", 32)}
        assert {r.external_id for r in acme} == {"N-1", "N-2", "N-4"}
        assert {(r.tenant, r.model) for r in rows if r.tenant != "acme"} == {("globex", "test/model-a")}
        assert new.store.count(collection_name("test/model-a", 64), tenant="acme") == 0
        assert new.store.count(collection_name("test/model-a", 64), tenant="globex") == 1
        assert new.store.count(new.indexer.collection, tenant="acme") == len(acme)

        assert cli_main(["embeddings", "counts", "--tenant", "acme", *cli]) == 0
        assert capsys.readouterr().out.split() == ["JIRA", "test_notes", "3", "rows", str(len(acme)), "points"]
    finally:
        use_service(None)
        new.close()
