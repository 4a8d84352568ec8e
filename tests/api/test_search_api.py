"""GET /api/search and `conveyor search` on both engines: answered by the worker that owns the
store (a worker thread here), tenant-scoped, filtered, refused clearly without a worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from conveyor import Conveyor
from conveyor.cli import main as cli_main
from conveyor.etl.embeddings.service import EmbeddingService, use_service
from conveyor.etl.embeddings.sources import get_source
from tests.embedding_tasks import stand_in_service
from tests.embeddings.test_stage import NOTES, add_notes, domain  # noqa: F401 - the fixture

GLOBEX = {"G-1": ("Dark theme for the settings page", "Globex wants a dark settings page too."),
          "G-2": ("Office plants", "Water the office plants on Fridays.")}


@pytest.fixture
def indexed(domain: Engine, tmp_path: Path) -> Iterator[EmbeddingService]:  # noqa: F811
    service = stand_in_service(tmp_path / "vectors")
    use_service(service)
    add_notes(domain, "acme", NOTES)
    add_notes(domain, "globex", GLOBEX, project="G")
    service.embed(domain, "acme", get_source("test_notes"), list(NOTES))
    service.embed(domain, "globex", get_source("test_notes"), list(GLOBEX))
    yield service
    use_service(None)
    service.close()


def test_search_over_http_and_the_cli(app: Conveyor, client: httpx.Client, server: Any, make_key: Any,
                                      start_worker: Any, indexed: EmbeddingService,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    refused = client.get("/api/search", params={"q": "dark theme", "tenant": "acme"})
    assert refused.status_code == 503 and "embedding_search" in refused.json()["error"]
    assert "conveyor worker" in refused.json()["action"]

    start_worker(["embedding_search"], concurrency=2)
    answer = client.get("/api/search", params={"q": "dark theme for the settings page", "tenant": "acme"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["tenant"] == "acme" and body["hits"][0]["external_id"] == "N-2"
    first = body["hits"][0]
    assert first["table"] == "test_notes" and first["source_type"] == "JIRA" and 0 < first["score"] <= 1
    assert first["url"] == "https://tracker.example/acme/N-2" and "dark colour scheme" in first["snippet"]
    assert {h["project"] for h in body["hits"]} == {"P"}

    acme = server.client(make_key("acme", "viewer"))
    mine = acme.get("/api/search", params={"q": "dark theme settings page", "limit": 2}).json()
    assert mine["tenant"] == "acme" and len(mine["hits"]) == 2 and "G-1" not in {h["external_id"] for h in mine["hits"]}
    assert acme.get("/api/search", params={"q": "dark theme", "tenant": "globex"}).status_code == 403
    globex = server.client(make_key("globex", "viewer")).get("/api/search", params={"q": "dark theme"}).json()
    assert [h["external_id"] for h in globex["hits"]][0] == "G-1"
    assert {h["external_id"] for h in globex["hits"]} <= set(GLOBEX)

    assert client.get("/api/search", params={"q": "dark", "tenant": "acme", "source": "GITHUB"}).json()["hits"] == []
    assert client.get("/api/search", params={"q": "dark", "tenant": "acme", "project": "G"}).json()["hits"] == []
    for bad in ({"q": ""}, {"q": "   "}, {"q": "x", "source": "SVN"}, {"q": "x", "limit": 0}, {"q": "x" * 1001}, {},
                {"q": "a\x00b"}):
        assert client.get("/api/search", params=bad).status_code == 422, bad

    code = cli_main(["search", "revenue report without EMEA", "--tenant", "acme", "--limit", "3",
                     "--database-url", app.settings.database_url, "--app", "tests.tasks:app"])
    out = capsys.readouterr().out
    assert code == 0 and out.splitlines()[0].split()[3] == "test_notes/N-3", out
    assert "https://tracker.example/acme/N-3" in out
