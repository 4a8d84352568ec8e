"""The assembler on its own: follow-up pages chained by cursor, totalCount checked, a repeated
cursor or a page missing from the raw store refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conveyor.etl.github.assemble import MissingFollowUp, complete_connection
from conveyor.etl.github.checkpoint import follow_fingerprint
from conveyor.etl.github.errors import GitHubQueryError, IncompleteConnection
from conveyor.etl.github.steps import replayed_pages


def page(items: list[int], total: int, end: str | None, more: bool) -> dict[str, Any]:
    return {"totalCount": total, "pageInfo": {"hasNextPage": more, "endCursor": end}, "nodes": items}


def stored(*pages: tuple[str, dict[str, Any]]) -> dict[str, str]:
    return {follow_fingerprint("pull_request_commits", "PR_1", after): json.dumps({"data": {"node": {"commits": p}}})
            for after, p in pages}


def test_pages_chain_by_cursor_until_no_next_page() -> None:
    pages = replayed_pages(stored(("c1", page([3, 4], 5, "c2", True)), ("c2", page([5], 5, "c3", False)),
                                  ("stale", page([99], 5, None, False))), "PR_1")
    done = complete_connection("pr #1", "PR_1", "commits", "pull_request_commits", page([1, 2], 5, "c1", True), pages)
    assert done["nodes"] == [1, 2, 3, 4, 5] and done["pageInfo"]["hasNextPage"] is False


def test_a_count_that_does_not_add_up_is_refused() -> None:
    pages = replayed_pages(stored(("c1", page([3], 4, None, False))), "PR_1")
    with pytest.raises(IncompleteConnection, match="collected 3 commits but GitHub's totalCount is 4"):
        complete_connection("pr #1", "PR_1", "commits", "pull_request_commits", page([1, 2], 4, "c1", True), pages)


def test_a_missing_page_or_a_repeated_cursor_is_refused() -> None:
    with pytest.raises(MissingFollowUp, match="after cursor 'c1'"):
        complete_connection("pr #1", "PR_1", "commits", "pull_request_commits", page([1], 3, "c1", True),
                            replayed_pages({}, "PR_1"))
    loop = replayed_pages(stored(("c1", page([2], 3, "c1", True))), "PR_1")
    with pytest.raises(GitHubQueryError, match="no new cursor"):
        complete_connection("pr #1", "PR_1", "commits", "pull_request_commits", page([1], 3, "c1", True), loop)


def test_the_watermark_is_floored_to_the_second() -> None:
    """GitHub's updatedAt has whole seconds: the watermark must not cut inside a second."""
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from conveyor.etl.github.watermark import watermark

    run = SimpleNamespace(id="r1", started_at=datetime(2026, 3, 1, 10, 0, 10, 500000, tzinfo=UTC), created_at=None,
                          reprocess_of=None, params={"owner": "acme"})
    app = SimpleNamespace(runs=SimpleNamespace(list=lambda *_, **__: [run]))
    assert watermark(app, "github", "t", {"owner": "acme"}, "r2") == datetime(2026, 3, 1, 10, 0, 10, tzinfo=UTC)  # type: ignore[arg-type]
    assert watermark(app, "github", "t", {"owner": "acme", "full": True}, "r2") is None  # type: ignore[arg-type]
    assert watermark(app, "github", "t", {"owner": "other"}, "r2") is None  # type: ignore[arg-type]
