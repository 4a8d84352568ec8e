"""The Search page in Chromium: query, filters, results that link to the item, errors shown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import Engine

from conveyor.etl.embeddings.service import EmbeddingService, use_service
from conveyor.etl.embeddings.sources import get_source
from tests.e2e.conftest import Browsing, DashboardServer, page_errors
from tests.e2e.test_dashboard import LIVE, login
from tests.embedding_tasks import stand_in_service
from tests.embeddings.test_stage import NOTES, add_notes, domain  # noqa: F401 - the fixture


@pytest.fixture
def indexed(domain: Engine, tmp_path: Path) -> Iterator[EmbeddingService]:  # noqa: F811
    service = stand_in_service(tmp_path / "vectors")
    use_service(service)
    add_notes(domain, "default", NOTES)
    service.embed(domain, "default", get_source("test_notes"), list(NOTES))
    yield service
    use_service(None)
    service.close()


def test_search_page_finds_and_links_items(app: Any, server: DashboardServer, web: Browsing, start_worker: Any,
                                           indexed: EmbeddingService) -> None:
    page = login(web, server, "/search")
    page.get_by_test_id("search-query").fill("dark theme")
    page.get_by_test_id("search-go").click()
    error = page.locator("#s-error")
    expect(error).to_contain_text("embedding_search", timeout=LIVE)  # no worker serves searches yet
    expect(error).to_contain_text("conveyor worker")

    start_worker(["embedding_search"], concurrency=2)
    page.get_by_test_id("search-go").click()
    hits = page.get_by_test_id("search-hit")
    expect(hits.first).to_have_attribute("data-id", "N-2", timeout=LIVE)
    expect(error).to_be_hidden()
    expect(page.get_by_test_id("search-summary")).to_contain_text("in tenant default")
    link = hits.first.get_by_test_id("search-hit-link")
    expect(link).to_have_text(NOTES["N-2"][0])
    expect(link).to_have_attribute("href", "https://tracker.example/default/N-2")
    expect(link).to_have_attribute("target", "_blank")
    expect(hits.first).to_contain_text("dark colour scheme")
    assert "q=dark+theme" in page.url
    web.shot("results")

    page.get_by_test_id("search-source").select_option("GITHUB")  # a change searches again
    expect(page.get_by_test_id("search-empty")).to_be_visible(timeout=LIVE)
    page.get_by_test_id("search-source").select_option("")
    page.get_by_test_id("search-project").fill("P")
    page.get_by_test_id("search-query").fill("revenue report EMEA")
    page.get_by_test_id("search-query").press("Enter")
    expect(hits.first).to_have_attribute("data-id", "N-3", timeout=LIVE)

    page.reload()  # the query is in the address: the same results come back
    expect(hits.first).to_have_attribute("data-id", "N-3", timeout=LIVE)
    expect(page.get_by_test_id("search-query")).to_have_value("revenue report EMEA")
    assert page_errors(web.errors) == []
