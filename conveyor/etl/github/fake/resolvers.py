"""Resolvers binding the fake's schema (a subset of GitHub's) to its dataset, with GitHub's
connection rules: `first`/`last` in 1..100 whenever nodes or edges are selected, keyset cursors
that stay valid when items move, `orderBy` and the filters the subset declares.

The execution context (`info.context`) is a dict: `dataset`, `viewer` (login), `rate_limit`
(the RateLimit object of this answer, or None when limits are off) and `total_count_skew`
(connection field name -> number added to its totalCount, for fault injection).
"""

from __future__ import annotations

import base64
import bisect
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    build_schema,
)

from conveyor.etl.github.fake.dataset import Dataset, Node

SCHEMA_FILE = Path(__file__).with_name("schema.graphql")
MAX_PAGE = 100


def error(kind: str, message: str) -> GraphQLError:
    """A GraphQL error with GitHub's `type` (moved to the top level of the answer's error)."""
    return GraphQLError(message, extensions={"type": kind})


# ---- cursors and pages ---------------------------------------------------------------------------
def encode_cursor(key: Sequence[Any]) -> str:
    return base64.b64encode(b"cursor:v2:" + json.dumps(list(key)).encode()).decode()


def decode_cursor(value: str) -> tuple[Any, ...]:
    try:
        raw = base64.b64decode(value, validate=True)
        if not raw.startswith(b"cursor:v2:"):
            raise ValueError
        key = json.loads(raw[len(b"cursor:v2:"):])
        if not isinstance(key, list):
            raise ValueError
        return tuple(key)
    except ValueError as exc:
        raise error("INVALID_CURSOR_ARGUMENTS", f"`{value}` does not appear to be a valid cursor.") from exc


def _selects(selection_set: SelectionSetNode | None, info: GraphQLResolveInfo, names: set[str]) -> bool:
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode) and selection.name.value in names:
            return True
        if isinstance(selection, InlineFragmentNode) and _selects(selection.selection_set, info, names):
            return True
        if isinstance(selection, FragmentSpreadNode):
            fragment = info.fragments.get(selection.name.value)
            if fragment is not None and _selects(fragment.selection_set, info, names):
                return True
    return False


def check_pagination(args: dict[str, Any], info: GraphQLResolveInfo) -> None:
    name = info.field_name
    first, last = args.get("first"), args.get("last")
    if first is None and last is None and any(
            _selects(node.selection_set, info, {"nodes", "edges"}) for node in info.field_nodes):
        raise error("MISSING_PAGINATION_BOUNDARIES",
                    f"You must provide a `first` or `last` value to properly paginate the `{name}` connection.")
    for arg, value in (("first", first), ("last", last)):
        if value is not None and value > MAX_PAGE:
            raise error("EXCESSIVE_PAGINATION", f"Requesting {value} records on the `{name}` connection exceeds "
                        f"the `{arg}` limit of {MAX_PAGE} records.")
        if value is not None and value < 0:
            raise error("INVALID_ARGUMENTS", f"`{arg}` on the `{name}` connection cannot be less than 0.")


def connection(items: Sequence[Any], keys: Sequence[tuple[Any, ...]], args: dict[str, Any], info: GraphQLResolveInfo,
               node: Callable[[Any], Node] = lambda x: x, edge: Callable[[Any], dict[str, Any]] = lambda x: {},
               **extra: Any) -> dict[str, Any]:
    """One page of `items` (sorted by `keys`, ascending) as a GitHub connection object."""
    check_pagination(args, info)
    start, end = 0, len(items)
    if args.get("after"):
        start = bisect.bisect_right(keys, decode_cursor(args["after"]))
    if args.get("before"):
        end = max(start, bisect.bisect_left(keys, decode_cursor(args["before"])))
    lo, hi = start, end
    if args.get("first") is not None:
        hi = min(hi, lo + args["first"])
    if args.get("last") is not None:
        lo = max(lo, hi - args["last"])
    page = list(range(lo, hi))
    cursors = [encode_cursor(keys[i]) for i in page]
    skew = info.context.get("total_count_skew", {}).get(info.field_name, 0)
    return {
        "totalCount": len(items) + skew,
        "pageInfo": {"hasNextPage": hi < len(items) if args.get("before") is None else hi < end,
                     "hasPreviousPage": lo > 0, "startCursor": cursors[0] if cursors else None,
                     "endCursor": cursors[-1] if cursors else None},
        "nodes": [node(items[i]) for i in page],
        "edges": [{"cursor": c, "node": node(items[i]), **edge(items[i])} for c, i in zip(cursors, page, strict=True)],
        **extra,
    }


def indexed(items: Sequence[Any], args: dict[str, Any], info: GraphQLResolveInfo) -> dict[str, Any]:
    return connection(items, [(i,) for i in range(len(items))], args, info)


def ordered(items: Sequence[Node], value: Callable[[Node], Any], descending: bool, args: dict[str, Any],
            info: GraphQLResolveInfo) -> dict[str, Any]:
    """Keyset order on (value, databaseId): a cursor stays valid when items move."""
    sign = -1 if descending else 1

    def key(item: Node) -> tuple[Any, ...]:
        return (sign * value(item), sign * item["databaseId"])

    ranked = sorted(items, key=key)
    return connection(ranked, [key(x) for x in ranked], args, info)


def epoch(text: str | None) -> int:
    return int(datetime.fromisoformat(text).timestamp()) if text else 0


# ---- the resolvers ---------------------------------------------------------------------------------
def _data(info: GraphQLResolveInfo) -> Dataset:
    return info.context["dataset"]  # type: ignore[no-any-return]


def viewer(_: Any, info: GraphQLResolveInfo) -> Node:
    return _data(info).users[info.context["viewer"]]


def repository_owner(_: Any, info: GraphQLResolveInfo, login: str) -> Node | None:
    found = _data(info).actor(login)
    return found if found is not None and found["__typename"] != "Bot" else None


def organization(_: Any, info: GraphQLResolveInfo, login: str) -> Node:
    found = _data(info).actor(login)
    if found is None or found["__typename"] != "Organization":
        raise error("NOT_FOUND", f"Could not resolve to an Organization with the login of '{login}'.")
    return found


def user(_: Any, info: GraphQLResolveInfo, login: str) -> Node:
    found = _data(info).actor(login)
    if found is None or found["__typename"] != "User":
        raise error("NOT_FOUND", f"Could not resolve to a User with the login of '{login}'.")
    return found


def repository(_: Any, info: GraphQLResolveInfo, owner: str, name: str, **__: Any) -> Node:
    found = _data(info).repository(owner, name)
    if found is None:
        raise error("NOT_FOUND", f"Could not resolve to a Repository with the name '{owner}/{name}'.")
    return found


def owner_repository(owner: Node, info: GraphQLResolveInfo, name: str, **__: Any) -> Node | None:
    return _data(info).repository(owner["login"], name)


def node(_: Any, info: GraphQLResolveInfo, id: str) -> Node:  # noqa: A002 - GitHub's argument name
    found = _data(info).node(id)
    if found is None:
        raise error("NOT_FOUND", f"Could not resolve to a node with the global id of '{id}'")
    return found


def nodes(_: Any, info: GraphQLResolveInfo, ids: list[str]) -> list[Node | None]:
    if len(ids) > MAX_PAGE:
        raise error("ARGUMENT_LIMIT", f"You may not request more than {MAX_PAGE} ids at once.")
    return [_data(info).node(i) for i in ids]


def rate_limit(_: Any, info: GraphQLResolveInfo, **__: Any) -> dict[str, Any] | None:
    return info.context.get("rate_limit")  # type: ignore[no-any-return]


REPOSITORY_ORDER: dict[str, Callable[[Node], Any]] = {
    "CREATED_AT": lambda r: epoch(r["createdAt"]), "UPDATED_AT": lambda r: epoch(r["updatedAt"]),
    "PUSHED_AT": lambda r: epoch(r["pushedAt"]), "STARGAZERS": lambda r: 0, "NAME": lambda r: r["name"].lower(),
}


def owner_repositories(owner: Node, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    repos = _data(info).repositories if owner["__typename"] == "Organization" else []
    for flag in ("isFork", "isArchived"):
        if args.get(flag) is not None:
            repos = [r for r in repos if r[flag] == args[flag]]
    if args.get("privacy") is not None:
        repos = [r for r in repos if r["isPrivate"] == (args["privacy"] == "PRIVATE")]
    order = args.get("orderBy") or {"field": "CREATED_AT", "direction": "ASC"}
    value = REPOSITORY_ORDER[order["field"]]
    if order["field"] == "NAME":  # strings cannot be negated: order ascending, reverse the key rank
        ranked = sorted(repos, key=lambda r: (value(r), r["databaseId"]), reverse=order["direction"] == "DESC")
        keys = [(i,) for i in range(len(ranked))]
        return connection(ranked, keys, args, info, totalDiskUsage=len(ranked) * 1024)
    result = ordered(repos, value, order["direction"] == "DESC", args, info)
    result["totalDiskUsage"] = len(repos) * 1024
    return result


def languages(repo: Node, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    descending = (args.get("orderBy") or {"direction": "DESC"})["direction"] == "DESC"
    ranked = sorted(repo["languages"], key=lambda pair: (pair[1], pair[0]["name"]), reverse=descending)
    return connection(ranked, [(i,) for i in range(len(ranked))], args, info, node=lambda pair: pair[0],
                      edge=lambda pair: {"size": pair[1]}, totalSize=sum(size for _, size in ranked))


PULL_REQUEST_ORDER: dict[str, Callable[[Node, Dataset], Any]] = {
    "CREATED_AT": lambda pr, d: epoch(pr["createdAt"]), "UPDATED_AT": lambda pr, d: epoch(pr["updatedAt"]),
    "COMMENTS": lambda pr, d: len(d.children(pr, "comments")),
}


def pull_requests(repo: Node, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    data = _data(info)
    prs = data.pull_requests.get(repo["index"], [])
    if args.get("states"):
        prs = [p for p in prs if p["state"] in args["states"]]
    for name in ("baseRefName", "headRefName"):
        if args.get(name):
            prs = [p for p in prs if p[name] == args[name]]
    if args.get("labels"):
        prs = []  # the fake's pull requests carry no labels
    order = args.get("orderBy") or {"field": "CREATED_AT", "direction": "ASC"}
    value = PULL_REQUEST_ORDER[order["field"]]
    return ordered(prs, lambda pr: value(pr, data), order["direction"] == "DESC", args, info)


def pull_request(repo: Node, info: GraphQLResolveInfo, number: int) -> Node:
    found = _data(info).pull_request(repo, number)
    if found is None:
        raise error("NOT_FOUND", f"Could not resolve to a PullRequest with the number of {number}.")
    return found


def children(kind: str) -> Callable[..., dict[str, Any]]:
    def resolve(pr: Node, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        items = _data(info).children(pr, kind)
        if kind == "reviews":
            if args.get("states"):
                items = [r for r in items if r["state"] in args["states"]]
            if args.get("author"):
                items = [r for r in items if (r["author"] or {}).get("login") == args["author"]]
        if kind == "comments" and (args.get("orderBy") or {}).get("direction") == "DESC":
            return ordered(items, lambda c: epoch(c["updatedAt"]), True, args, info)
        return indexed(items, args, info)

    return resolve


def thread_comments(thread: Node, info: GraphQLResolveInfo, skip: int | None = None, **args: Any) -> dict[str, Any]:
    return indexed(thread["comments"][skip or 0:], args, info)


RESOLVERS: dict[tuple[str, str], Callable[..., Any]] = {
    ("Query", "viewer"): viewer, ("Query", "repositoryOwner"): repository_owner,
    ("Query", "organization"): organization, ("Query", "user"): user, ("Query", "repository"): repository,
    ("Query", "node"): node, ("Query", "nodes"): nodes, ("Query", "rateLimit"): rate_limit,
    ("Query", "id"): lambda *_: "Q_query",
    ("Organization", "repositories"): owner_repositories, ("User", "repositories"): owner_repositories,
    ("Organization", "repository"): owner_repository, ("User", "repository"): owner_repository,
    ("Repository", "languages"): languages, ("Repository", "pullRequests"): pull_requests,
    ("Repository", "pullRequest"): pull_request,
    ("Repository", "primaryLanguage"): lambda repo, _: max(repo["languages"], key=lambda p: p[1])[0] if repo["languages"] else None,
    ("PullRequest", "commits"): children("commits"), ("PullRequest", "reviews"): children("reviews"),
    ("PullRequest", "comments"): children("comments"), ("PullRequest", "reviewThreads"): children("reviewThreads"),
    ("PullRequestReviewThread", "comments"): thread_comments,
}


@lru_cache(maxsize=1)
def fake_schema() -> GraphQLSchema:
    """The fake's executable schema (built once per process; resolvers hold no state)."""
    schema = build_schema(SCHEMA_FILE.read_text())
    for (type_name, field_name), resolve in RESOLVERS.items():
        type_ = schema.get_type(type_name)
        assert isinstance(type_, GraphQLObjectType), type_name
        type_.fields[field_name].resolve = resolve
    return schema
