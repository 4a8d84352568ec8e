"""Regenerates conveyor/etl/github/fake/schema.graphql: the subset of GitHub's published GraphQL
schema that the fake GitHub serves, copied mechanically so no name is invented.

Usage: python scripts/github_schema_subset.py /path/to/octokit/graphql-schema/schema.graphql [commit]

Types, fields and arguments come verbatim from the published schema (descriptions, defaults,
deprecations). An argument whose type is not in the subset is left out (all of them are optional);
interfaces not in the subset are dropped from `implements`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    build_ast_schema,
    build_schema,
    get_named_type,
    parse,
    print_ast,
    validate_schema,
)
from graphql.utilities import ast_from_value

OUT = Path(__file__).resolve().parent.parent / "conveyor/etl/github/fake/schema.graphql"

CONNECTION = ["edges", "nodes", "pageInfo", "totalCount"]
EDGE = ["cursor", "node"]
ACTOR = ["avatarUrl", "login", "resourcePath", "url"]
FIELDS: dict[str, list[str] | None] = {
    "Query": ["id", "node", "nodes", "organization", "rateLimit", "repository", "repositoryOwner", "user", "viewer"],
    "Node": ["id"],
    "Actor": ACTOR,
    "RepositoryOwner": ["avatarUrl", "id", "login", "repositories", "repository", "resourcePath", "url"],
    "User": ACTOR + ["createdAt", "databaseId", "email", "id", "name", "repositories", "repository"],
    "Organization": ACTOR + ["createdAt", "databaseId", "id", "name", "repositories", "repository"],
    "Bot": ACTOR + ["createdAt", "databaseId", "id"],
    "RateLimit": None,
    "PageInfo": None,
    "Repository": ["createdAt", "databaseId", "defaultBranchRef", "description", "id", "isArchived", "isFork",
                   "isPrivate", "languages", "name", "nameWithOwner", "owner", "primaryLanguage", "pullRequest",
                   "pullRequests", "pushedAt", "updatedAt", "url"],
    "RepositoryConnection": CONNECTION + ["totalDiskUsage"],
    "RepositoryEdge": EDGE,
    "Ref": ["id", "name", "prefix"],
    "Language": ["color", "id", "name"],
    "LanguageConnection": CONNECTION + ["totalSize"],
    "LanguageEdge": EDGE + ["size"],
    "PullRequest": ["additions", "author", "baseRefName", "body", "changedFiles", "closed", "closedAt", "comments",
                    "commits", "createdAt", "databaseId", "deletions", "fullDatabaseId", "headRefName", "id", "isDraft", "merged",
                    "mergedAt", "mergedBy", "number", "repository", "reviewDecision", "reviewThreads", "reviews",
                    "state", "title", "updatedAt", "url"],
    "PullRequestConnection": CONNECTION,
    "PullRequestEdge": EDGE,
    "PullRequestCommit": ["commit", "id", "pullRequest", "url"],
    "PullRequestCommitConnection": CONNECTION,
    "PullRequestCommitEdge": EDGE,
    "Commit": ["abbreviatedOid", "additions", "author", "authoredDate", "committedDate", "committer", "deletions",
               "id", "message", "messageHeadline", "oid", "url"],
    "GitActor": ["date", "email", "name", "user"],
    "PullRequestReview": ["author", "body", "commit", "createdAt", "databaseId", "fullDatabaseId", "id",
                          "pullRequest", "state", "submittedAt", "updatedAt", "url"],
    "PullRequestReviewConnection": CONNECTION,
    "PullRequestReviewEdge": EDGE,
    "IssueComment": ["author", "body", "createdAt", "databaseId", "fullDatabaseId", "id", "pullRequest",
                     "updatedAt", "url"],
    "IssueCommentConnection": CONNECTION,
    "IssueCommentEdge": EDGE,
    "PullRequestReviewThread": ["comments", "id", "isOutdated", "isResolved", "line", "path", "pullRequest"],
    "PullRequestReviewThreadConnection": CONNECTION,
    "PullRequestReviewThreadEdge": EDGE,
    "PullRequestReviewComment": ["author", "body", "createdAt", "databaseId", "fullDatabaseId", "id", "path",
                                 "pullRequest", "updatedAt", "url"],
    "PullRequestReviewCommentConnection": CONNECTION,
    "PullRequestReviewCommentEdge": EDGE,
    # inputs, enums and scalars: whole
    "IssueOrder": None, "IssueOrderField": None, "OrderDirection": None, "RepositoryOrder": None,
    "RepositoryOrderField": None, "LanguageOrder": None, "LanguageOrderField": None, "IssueCommentOrder": None,
    "IssueCommentOrderField": None, "PullRequestState": None, "PullRequestReviewState": None,
    "PullRequestReviewDecision": None, "RepositoryPrivacy": None, "DateTime": None, "URI": None,
    "GitObjectID": None, "GitTimestamp": None, "BigInt": None,
}
BUILTIN = {"String", "Int", "Float", "Boolean", "ID"}


def description(text: str | None, indent: str) -> str:
    if not text:
        return ""
    body = "\n".join(f"{indent}{line}".rstrip() for line in text.split("\n"))
    return f'{indent}"""\n{body}\n{indent}"""\n'


def deprecated(reason: str | None) -> str:
    return "" if reason is None else f" @deprecated(reason: {print_ast(ast_from_value(reason, build_schema('scalar X').type_map['String']))})"  # type: ignore[arg-type]


def kept(type_: object) -> bool:
    name = get_named_type(type_).name  # type: ignore[arg-type]
    return name in BUILTIN or name in FIELDS


def print_args(field: object) -> str:
    args = []
    for name, arg in sorted(field.args.items()):  # type: ignore[attr-defined]
        if not kept(arg.type):
            assert not str(arg.type).endswith("!") or arg.default_value is not None, f"required {name} dropped"
            continue
        default = "" if arg.ast_node is None or arg.ast_node.default_value is None else f" = {print_ast(arg.ast_node.default_value)}"
        args.append(f"{description(arg.description, '    ')}    {name}: {arg.type}{default}")
    return "" if not args else "(\n" + "\n".join(args) + "\n  )"


def print_type(t: GraphQLNamedType) -> str:
    wanted = FIELDS[t.name]
    head = description(t.description, "")
    if isinstance(t, GraphQLScalarType):
        return f"{head}scalar {t.name}"
    if isinstance(t, GraphQLEnumType):
        values = "\n".join(f"{description(v.description, '  ')}  {n}{deprecated(v.deprecation_reason)}"
                           for n, v in sorted(t.values.items()))
        return f"{head}enum {t.name} {{\n{values}\n}}"
    if isinstance(t, GraphQLInputObjectType):
        fields = "\n".join(f"{description(f.description, '  ')}  {n}: {f.type}" for n, f in sorted(t.fields.items()))
        return f"{head}input {t.name} {{\n{fields}\n}}"
    assert isinstance(t, GraphQLObjectType | GraphQLInterfaceType)
    keyword = "type" if isinstance(t, GraphQLObjectType) else "interface"
    interfaces = [i.name for i in t.interfaces if i.name in FIELDS]
    implements = f" implements {' & '.join(interfaces)}" if interfaces else ""
    names = sorted(t.fields) if wanted is None else sorted(wanted)
    lines = []
    for name in names:
        field = t.fields[name]
        assert kept(field.type), f"{t.name}.{name} returns a type outside the subset"
        lines.append(f"{description(field.description, '  ')}  {name}{print_args(field)}: {field.type}"
                     f"{deprecated(field.deprecation_reason)}")
    return f"{head}{keyword} {t.name}{implements} {{\n" + "\n".join(lines) + "\n}"


def main() -> None:
    source = Path(sys.argv[1]).read_text()
    origin = sys.argv[2] if len(sys.argv) > 2 else "unknown commit"
    published = build_ast_schema(parse(source), assume_valid_sdl=True)
    blocks = [print_type(published.type_map[name]) for name in sorted(FIELDS)]
    text = (f"# A subset of GitHub's published GraphQL schema (octokit/graphql-schema schema.graphql, {origin}),\n"
            "# generated by scripts/github_schema_subset.py: every name here is GitHub's. Do not edit by hand.\n\n"
            + "\n\n".join(blocks) + "\n")
    errors = validate_schema(build_schema(text))  # the subset must be a valid schema on its own
    assert not errors, errors
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(blocks)} types)")


if __name__ == "__main__":
    main()
