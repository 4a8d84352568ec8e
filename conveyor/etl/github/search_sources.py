"""What the embedding stage reads from the GitHub tables: pull requests (title, body, review
bodies and review comments) and repositories, as sources of type GITHUB
(conveyor/etl/embeddings/sources.py). Ids are GitHub node ids, unique across GitHub, as the
transforms emit them; a hit links to the PR or repository on GitHub and its project is the
repository (`owner/name`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, select

from conveyor.etl.embeddings.sources import SourceText, column_source, register_source
from conveyor.etl.github.tables import (
    pull_request_comments,
    pull_request_reviews,
    pull_requests,
    repositories,
)

PULL_REQUESTS, REPOSITORIES = "pull_requests", "repositories"
BATCH = 400  # ids per SELECT: well under any driver's bound-parameter limit


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), BATCH):
        yield list(ids[start:start + BATCH])


def pull_request_texts(conn: Connection, tenant: str, ids: Sequence[str]) -> list[SourceText]:
    pr, rv, cm = pull_requests.c, pull_request_reviews.c, pull_request_comments.c
    found: list[SourceText] = []
    for chunk in _chunks(list(dict.fromkeys(ids))):
        reviews: dict[str, list[str]] = defaultdict(list)
        # Review summaries, then the comments of review threads (a PR's conversation comments are
        # not part of its searchable text: mostly bots and "LGTM").
        for pid, body in conn.execute(select(rv.pull_request_id, rv.body)
                                      .where(rv.tenant == tenant, rv.pull_request_id.in_(chunk))
                                      .order_by(rv.pull_request_id, rv.submitted_at, rv.id)):
            if body and body.strip():
                reviews[pid].append(body.strip())
        for pid, body in conn.execute(select(cm.pull_request_id, cm.body)
                                      .where(cm.tenant == tenant, cm.pull_request_id.in_(chunk), cm.kind == "review")
                                      .order_by(cm.pull_request_id, cm.created_at, cm.id)):
            if body and body.strip():
                reviews[pid].append(body.strip())
        for r in conn.execute(select(pr.id, pr.repository, pr.number, pr.title, pr.body, pr.url, pr.state)
                              .where(pr.tenant == tenant, pr.id.in_(chunk))):
            text = "\n\n".join(x for x in (r.title, r.body, *reviews[r.id]) if x and x.strip())
            found.append(SourceText(r.id, text, {"title": f"{r.repository}#{r.number} {r.title}",
                                                 "project": r.repository, "url": r.url, "status": r.state}))
    return found


_repository_texts, _all_repositories = column_source(
    repositories, id_column="id", text_columns=["name_with_owner", "description", "primary_language"],
    payload_columns={"title": "name_with_owner", "project": "name_with_owner", "url": "url"})


def _all_pull_requests(conn: Connection, tenant: str) -> list[str]:
    return [str(i) for i in conn.execute(select(pull_requests.c.id).where(pull_requests.c.tenant == tenant)).scalars()]


def register() -> None:
    """Register the GitHub sources (idempotent: the same functions each time)."""
    register_source(PULL_REQUESTS, "GITHUB", pull_request_texts, all_ids=_all_pull_requests)
    register_source(REPOSITORIES, "GITHUB", _repository_texts, all_ids=_all_repositories)
