"""The GitHub ETL's GraphQL queries, one named `.graphql` file each; `fragments.graphql` holds
the selections they share, and `load_query` appends the fragments a query uses."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from graphql import FragmentDefinitionNode, FragmentSpreadNode, parse, print_ast, visit
from graphql.language import Visitor

HERE = Path(__file__).parent
QUERY_NAMES = (
    "viewer", "repositories", "repository_languages", "pull_requests", "pull_request_commits",
    "pull_request_reviews", "pull_request_comments", "pull_request_review_threads", "review_thread_comments",
)


class _Spreads(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
        self.names.add(node.name.value)


def _spreads(node: object) -> set[str]:
    visitor = _Spreads()
    visit(node, visitor)  # type: ignore[arg-type]
    return visitor.names


@cache
def _fragments() -> dict[str, FragmentDefinitionNode]:
    document = parse((HERE / "fragments.graphql").read_text())
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


@cache
def load_query(name: str) -> str:
    """The text of query `name` (a file in this folder) with every fragment it uses, in full."""
    if name not in QUERY_NAMES:
        raise ValueError(f"no GitHub query named {name!r}; known: {', '.join(QUERY_NAMES)}")
    text = (HERE / f"{name}.graphql").read_text()
    fragments = _fragments()
    wanted: list[str] = []
    pending = sorted(_spreads(parse(text)))
    while pending:
        fragment = pending.pop()
        if fragment in wanted:
            continue
        if fragment not in fragments:
            raise ValueError(f"query {name!r} uses fragment {fragment!r}, which fragments.graphql does not define")
        wanted.append(fragment)
        pending.extend(sorted(_spreads(fragments[fragment]) - set(wanted)))
    return text + "\n" + "\n\n".join(print_ast(fragments[f]) for f in sorted(wanted)) + "\n"


def operation_name(name: str) -> str:
    """The GraphQL operation name inside query file `name` (pull_request_commits -> PullRequestCommits)."""
    return "".join(part.capitalize() for part in name.split("_"))
