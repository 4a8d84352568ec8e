"""The stage bodies of the GitHub pipeline's two steps (conveyor/etl/github/pipeline.py binds them
to tasks and queues).

Step `github_repositories`: extraction pages the owner's repositories (each page raw + cursor in
one transaction, languages' follow-up pages stored first) and emits one item per page; transform
loads them into `repositories`.

Step `github_prs_with_nested`: extraction walks each repository's PRs, most recently updated
first, down to the watermark, committing page + cursor; it emits one item per PR that has nested
pages left (so the `nested` stage fetches each such PR's follow-ups in a job of its own) and one
item for the rest of the page. `nested` fetches (or, on a retried attempt, replays) every
follow-up page of its PR until `hasNextPage` is false. transform completes the PRs from the raw
store alone, checks every connection against totalCount, and loads them whole.

A retried extraction resumes after its last committed page and emits the items of the pages
committed before as well: emits are written only when an attempt completes, so nothing was sent
for them yet and nothing is sent twice.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from conveyor.etl.github.assemble import (
    MissingFollowUp,
    PageSource,
    complete_pull_request,
    complete_repository,
    connection_of,
    needs_follow_ups,
)
from conveyor.etl.github.checkpoint import (
    FOLLOW_SOURCE,
    PAGE_SOURCE,
    cursors,
    follow_fingerprint,
    follow_ups,
    raw_page,
    raw_pages,
)
from conveyor.etl.github.client import GitHubClient
from conveyor.etl.github.errors import GitHubQueryError, parse_time
from conveyor.etl.github.load import load_pull_requests, load_repositories
from conveyor.etl.github.settings import matches_filter, repository_patterns
from conveyor.etl.github.stage_env import StageEnv
from conveyor.etl.github.tables import repositories
from conveyor.etl.github.watermark import watermark

FOLLOW_PREFIX = FOLLOW_SOURCE.format(node="")
REPOSITORIES_STEP = "github_repositories"
PULL_REQUESTS_STEP = "github_prs_with_nested"


# ---- page sources for the assembler ----------------------------------------------------------------
def replayed_pages(stored: dict[str, str], owner: str) -> PageSource:
    """Follow-up pages from the raw store only (transform, reprocess)."""
    def page(query: str, node_id: str, cursor: str | None) -> dict[str, Any]:
        text = stored.get(follow_fingerprint(query, node_id, cursor))
        if text is None:
            raise MissingFollowUp(f"{owner}: the raw store has no {query} page of {node_id} after cursor {cursor!r}; "
                                  "its nested stage did not store it")
        return connection_of(json.loads(text), query, node_id)
    return page


def fetched_pages(env: StageEnv, client: GitHubClient, stored: dict[str, str], owner: str) -> PageSource:
    """Follow-up pages replayed when a previous attempt stored them, else fetched and stored."""
    def page(query: str, node_id: str, cursor: str | None) -> dict[str, Any]:
        fingerprint = follow_fingerprint(query, node_id, cursor)
        text = stored.get(fingerprint)
        if text is None:
            answer = client.execute_paged(query, {"id": node_id, "cursor": cursor})
            text = stored[fingerprint] = answer.text
            env.writer.save_follow_up(node=owner, fingerprint=fingerprint, text=text)
            env.pages += 1
        return connection_of(json.loads(text), query, node_id)
    return page


# ---- step 1: repositories ----------------------------------------------------------------------
def _repository_nodes(body: dict[str, Any], owner: str) -> dict[str, Any]:
    found = (body.get("data") or {}).get("repositoryOwner")
    if found is None:
        raise GitHubQueryError("Repositories", [{"type": "NOT_FOUND",
                                                 "message": f"no GitHub organisation or user named {owner!r}"}])
    return found["repositories"]  # type: ignore[no-any-return]


def extract_repositories(env: StageEnv) -> None:
    client = env.connect()
    settings = env.settings
    assert settings is not None
    scope, source = settings.owner.lower(), PAGE_SOURCE.format(query="repositories", scope=settings.owner.lower())
    state = cursors(env.engine, env.token, env.step).get(scope)
    items: list[Any] = [{"page": raw_id} for raw_id, _ in raw_pages(env.engine, env.token, source)] if state else []
    cursor = state.cursor if state else None
    while not (state and state.done):
        answer = client.execute_paged("repositories", {"owner": settings.owner, "cursor": cursor})
        connection = _repository_nodes(answer.raw, settings.owner)
        for repo in connection["nodes"]:  # languages' follow-ups are stored before the page's cursor moves
            if repo["languages"]["pageInfo"]["hasNextPage"] and settings.wants(repo["name"]):
                stored = follow_ups(env.engine, env.token, repo["id"])
                complete_repository(repo, fetched_pages(env, client, stored, repo["id"]))
        done = not connection["pageInfo"]["hasNextPage"]
        raw_id = env.writer.commit_page(source=source, fingerprint=cursor or "", text=answer.text, step=env.step,
                                        scope=scope, next_cursor=connection["pageInfo"]["endCursor"], done=done)
        env.pages += 1
        items.append({"page": raw_id})
        if done:
            break
        cursor = connection["pageInfo"]["endCursor"]
    env.emit(*items)


def transform_repositories(env: StageEnv, raw_id: int) -> list[str]:
    token, source, text = raw_page(env.engine, raw_id)
    if source.startswith(FOLLOW_PREFIX):
        return []  # a reprocess run is fed every raw row: follow-ups are read with their page
    patterns = repository_patterns(env.app.settings.database_url, env.tenant, env.params)
    repos = []
    for repo in _repository_nodes(json.loads(text), str(env.params.get("owner") or ""))["nodes"]:
        if not matches_filter(repo["name"], patterns):
            continue
        stored = follow_ups(env.engine, token, repo["id"]) if repo["languages"]["pageInfo"]["hasNextPage"] else {}
        repos.append(complete_repository(repo, replayed_pages(stored, repo["id"])))
    with env.engine.begin() as conn:
        ids = load_repositories(conn, env.tenant, repos)
    env.records += len(ids)
    return ids


# ---- step 2: pull requests with nested connections ---------------------------------------------------
def _page_items(raw_id: int, body: dict[str, Any], since: Any) -> tuple[list[dict[str, Any]], bool]:
    """The items of one PR page (one per PR with follow-ups, one for the rest) and whether the
    walk reached the watermark on it."""
    nodes = body["data"]["repository"]["pullRequests"]["nodes"]
    kept, reached = [], False
    for pr in nodes:
        if since is not None and parse_time(pr["updatedAt"]) < since:
            reached = True
            break
        kept.append(pr)
    items: list[dict[str, Any]] = [{"page": raw_id, "prs": [pr["id"]], "follow": True}
                                   for pr in kept if needs_follow_ups(pr)]
    rest = [pr["id"] for pr in kept if not needs_follow_ups(pr)]
    if rest:
        items.append({"page": raw_id, "prs": rest})
    return items, reached


def _repositories_in_scope(env: StageEnv) -> list[tuple[str, str]]:
    settings = env.settings
    assert settings is not None
    c = repositories.c
    with env.engine.connect() as conn:
        rows = conn.execute(select(c.name, c.name_with_owner).where(c.tenant == env.tenant,
                                                                    func.lower(c.owner) == settings.owner.lower())
                            .order_by(c.name_with_owner)).all()
    return [(r.name, r.name_with_owner) for r in rows if settings.wants(r.name)]


def extract_pull_requests(env: StageEnv, pipeline: str) -> None:
    client = env.connect()
    settings = env.settings
    assert settings is not None
    since = watermark(env.app, pipeline, env.tenant, env.params, env.run_id)
    committed = cursors(env.engine, env.token, env.step)
    items: list[Any] = []
    for name, name_with_owner in _repositories_in_scope(env):
        source = PAGE_SOURCE.format(query="pull_requests", scope=name_with_owner)
        state = committed.get(name_with_owner)
        if state:  # pages a previous attempt committed: their items were never emitted
            for raw_id, text in raw_pages(env.engine, env.token, source):
                items += _page_items(raw_id, json.loads(text), since)[0]
            if state.done:
                continue
        cursor = state.cursor if state else None
        while True:
            answer = client.execute_paged("pull_requests", {"owner": settings.owner, "name": name, "cursor": cursor},
                                          max_page_size=settings.pull_request_page_size)
            repository = answer.raw["data"].get("repository")
            if repository is None:
                raise GitHubQueryError("PullRequests", [{"type": "NOT_FOUND", "message": f"{name_with_owner} is gone"}])
            info = repository["pullRequests"]["pageInfo"]
            page_items, reached = _page_items(-1, answer.raw, since)
            done = reached or not info["hasNextPage"]
            raw_id = env.writer.commit_page(source=source, fingerprint=cursor or "", text=answer.text, step=env.step,
                                            scope=name_with_owner, next_cursor=info["endCursor"], done=done)
            env.pages += 1
            items += [{**item, "page": raw_id} for item in page_items]
            if done:
                break
            cursor = info["endCursor"]
    env.emit(*items)


def _page_pull_requests(env: StageEnv, raw_id: int) -> tuple[str, str, list[dict[str, Any]]]:
    """(token, repository owner/name, PR nodes) of a stored PR page; no nodes for a follow-up page
    (a reprocess run is fed every raw row: follow-ups are read with their page)."""
    token, source, text = raw_page(env.engine, raw_id)
    if source.startswith(FOLLOW_PREFIX):
        return token, "", []
    prefix = PAGE_SOURCE.format(query="pull_requests", scope="")
    if not source.startswith(prefix):
        raise MissingFollowUp(f"raw row {raw_id} is not a pull request page (source {source!r})")
    return token, source[len(prefix):], json.loads(text)["data"]["repository"]["pullRequests"]["nodes"]


def fetch_nested(env: StageEnv, item: dict[str, Any]) -> None:
    """Every follow-up page of the item's PR, stored (or found stored by an earlier attempt)."""
    if item.get("follow"):
        _, name_with_owner, nodes = _page_pull_requests(env, int(item["page"]))
        client = env.connect()
        for pr in nodes:
            if pr["id"] in item["prs"]:
                stored = follow_ups(env.engine, env.token, pr["id"])
                complete_pull_request(name_with_owner, pr, fetched_pages(env, client, stored, pr["id"]))
    env.emit(item)


def transform_pull_requests(env: StageEnv, item: dict[str, Any] | int) -> list[str]:
    """Completes the item's PRs from the raw store and loads them in one transaction. A bare raw id
    (a reprocess run) means every PR on that page."""
    raw_id = int(item["page"]) if isinstance(item, dict) else int(item)
    wanted = set(item["prs"]) if isinstance(item, dict) else None
    token, name_with_owner, nodes = _page_pull_requests(env, raw_id)
    if not nodes:
        return []
    done = []
    for pr in nodes:
        if wanted is not None and pr["id"] not in wanted:
            continue
        stored = follow_ups(env.engine, token, pr["id"]) if needs_follow_ups(pr) else {}
        done.append(complete_pull_request(name_with_owner, pr, replayed_pages(stored, pr["id"])))
    c = repositories.c
    with env.engine.begin() as conn:
        repo_id = conn.execute(select(c.id).where(c.tenant == env.tenant, c.name_with_owner == name_with_owner)).scalar()
        repository = {"id": repo_id or "", "name_with_owner": name_with_owner}
        env.records += load_pull_requests(conn, env.tenant, repository, done)
    return [pr["id"] for pr in done]
