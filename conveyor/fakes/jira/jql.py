"""The subset of JQL the fake Jira understands, with Jira's semantics where it matters.

Supported: clauses joined by AND on `project`, `key`/`issuekey`, `id`, `status`, `updated` and
`created` (`=`, `!=`, `<`, `<=`, `>`, `>=`, `in (...)`, `not in (...)`), then `ORDER BY` over
`updated`, `created`, `key`, `id` (ASC/DESC). Date literals (`"yyyy-MM-dd HH:mm"`,
`"yyyy/MM/dd HH:mm"`, `"yyyy-MM-dd"`) are read in the API user's time zone, with minute
precision, as Jira reads them. Anything else is a JqlError (HTTP 400), as is a query with no
restriction, which `search/jql` rejects as unbounded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from conveyor.fakes.jira.dataset import Issue, JiraDataset

_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<op>>=|<=|!=|=|<|>|\(|\)|,)'
                    r'|(?P<word>[^\s=!<>(),"\']+))')
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
_FIELDS = {"project", "key", "issuekey", "id", "status", "updated", "created"}
_ORDER_FIELDS = {"updated", "created", "key", "issuekey", "id"}


class JqlError(ValueError):
    """Jira's answer to a query it cannot run: HTTP 400 with this message."""


@dataclass(frozen=True, slots=True)
class Clause:
    field: str
    op: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class JqlQuery:
    clauses: tuple[Clause, ...]
    order: tuple[tuple[str, bool], ...]  # (field, descending)
    tz: tzinfo

    def matches(self, issue: Issue, data: JiraDataset) -> bool:
        return all(_test(clause, issue, data, self.tz) for clause in self.clauses)

    def sort(self, issues: list[Issue]) -> list[Issue]:
        ordered = sorted(issues, key=lambda i: i.id)
        for name, descending in reversed(self.order or (("created", True),)):
            ordered.sort(key=_SORT_KEYS[name], reverse=descending)
        return ordered


def _key_order(issue: Issue) -> tuple[str, int]:
    project, number = issue.key.rsplit("-", 1)
    return project, int(number)


_SORT_KEYS: dict[str, Callable[[Issue], Any]] = {
    "updated": lambda i: i.updated, "created": lambda i: i.created, "key": _key_order, "issuekey": _key_order,
    "id": lambda i: i.id,
}


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise JqlError(f"Error in the JQL Query: The character '{text[pos]}' is a reserved JQL character. "
                           f"(line 1, character {pos + 1})")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((kind, value))
        pos = match.end()
    return out


def parse_jql(text: str, tz: tzinfo) -> JqlQuery:
    tokens = _tokens(text)
    pos = 0

    def peek(offset: int = 0) -> tuple[str, str] | None:
        return tokens[pos + offset] if pos + offset < len(tokens) else None

    def take(expected: str | None = None) -> str:
        nonlocal pos
        token = peek()
        if token is None:
            raise JqlError("Error in the JQL Query: The JQL query is incomplete.")
        if expected is not None and token[1].lower() != expected:
            raise JqlError(f"Error in the JQL Query: Expecting '{expected}' but got '{token[1]}'.")
        pos += 1
        return token[1]

    def is_word(word: str, offset: int = 0) -> bool:
        token = peek(offset)
        return token is not None and token[0] == "word" and token[1].lower() == word

    clauses: list[Clause] = []
    while peek() is not None and not (is_word("order") and is_word("by", 1)):
        if clauses:
            if is_word("or"):
                raise JqlError("Error in the JQL Query: OR is not supported by this fake Jira.")
            take("and")
        name = take().lower()
        if name not in _FIELDS:
            raise JqlError(f"Field '{name}' does not exist or you do not have permission to view it.")
        if is_word("not") and is_word("in", 1):
            take(), take()
            op = "not in"
        elif is_word("in"):
            take()
            op = "in"
        else:
            op = take()
            if op not in ("=", "!=", "<", "<=", ">", ">="):
                raise JqlError(f"Error in the JQL Query: Expecting operator but got '{op}'.")
        if op in ("in", "not in"):
            take("(")
            values = [take()]
            while peek() is not None and peek() == ("op", ","):
                take(",")
                values.append(take())
            take(")")
        else:
            values = [take()]
        if name in ("updated", "created"):
            if op in ("in", "not in"):
                raise JqlError(f"Error in the JQL Query: operator '{op}' cannot be used with field '{name}'.")
            _date(values[0], tz)
        clauses.append(Clause(name, op, tuple(values)))
    order: list[tuple[str, bool]] = []
    if peek() is not None:
        take("order"), take("by")
        while True:
            name = take().lower()
            if name not in _ORDER_FIELDS:
                raise JqlError(f"Error in the JQL Query: ordering by '{name}' is not supported by this fake Jira.")
            descending = False
            if is_word("asc") or is_word("desc"):
                descending = take().lower() == "desc"
            order.append((name, descending))
            if peek() is None:
                break
            take(",")
        if len(order) > 7:
            raise JqlError("The ORDER BY clause may contain at most 7 fields.")
    if not clauses:
        raise JqlError("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")
    return JqlQuery(tuple(clauses), tuple(order), tz)


def _date(text: str, tz: tzinfo) -> datetime:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    raise JqlError(f"Date value '{text}' for field 'updated' is invalid. Valid formats include: "
                   "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format.")


def _test(clause: Clause, issue: Issue, data: JiraDataset, tz: tzinfo) -> bool:
    if clause.field in ("updated", "created"):
        moment = issue.updated if clause.field == "updated" else issue.created
        limit = _date(clause.values[0], tz)
        return {"=": moment == limit, "!=": moment != limit, "<": moment < limit, "<=": moment <= limit,
                ">": moment > limit, ">=": moment >= limit}.get(clause.op, False)
    if clause.field == "project":
        project = data.project(issue.project_id)
        actual = {project.key.lower(), project.id, project.name.lower()}
    elif clause.field in ("key", "issuekey"):
        actual = {issue.key.lower(), str(issue.id)}
    elif clause.field == "id":
        actual = {str(issue.id)}
    else:  # status
        status = data.status(issue.status_id)
        actual = {status.name.lower(), status.id}
    wanted = {v.lower() for v in clause.values}
    if clause.op in ("=", "in"):
        return bool(actual & wanted)
    if clause.op in ("!=", "not in"):
        return not actual & wanted
    raise JqlError(f"Error in the JQL Query: operator '{clause.op}' cannot be used with field '{clause.field}'.")
