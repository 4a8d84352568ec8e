"""The fake Jira's data: generated deterministically from a seed and a size, editable at run time.

`JiraDataset.generate(seed=7, issues=60)` always builds the same site: projects (one of them
team-managed, with its own same-named statuses and issue types), custom fields, and issues with
realistic changelogs (status walks with reviews, reopens and backlog returns, plus field edits),
comments, links and pull requests. Every 97th issue has more than 100 histories and one issue
(`long_changelog_key`) has exactly 220. Edits (`edit_issue`, `add_issue`, `delete_issue`,
`add_comment`) change it the way Jira would, for incremental-sync tests.
"""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from conveyor.fakes.jira import catalog as c

BASE_TIME = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
LONG_CHANGELOG_INDEX = 3       # with the default 3 projects: ALPHA-2
LONG_CHANGELOG_HISTORIES = 220
MANY_COMMENTS_EVERY = 41       # issues 7, 48, ... carry more comments than the inline cap of 20
_SPECIAL_IDS = frozenset(f.id for f in c.SPECIAL_CUSTOM_FIELDS)


@dataclass(slots=True)
class History:
    id: int
    created: datetime
    author_id: str
    items: list[dict[str, Any]]


@dataclass(slots=True)
class Comment:
    id: int
    author_id: str
    body: str
    created: datetime
    updated: datetime


@dataclass(slots=True)
class Link:
    id: int
    type_id: str
    outward: bool      # this issue is the link's source (outwardIssue is the other one)
    other_id: int


@dataclass(slots=True)
class Issue:
    id: int
    key: str
    project_id: str
    type_id: str
    summary: str
    description: str
    status_id: str
    created: datetime
    updated: datetime
    status_changed: datetime
    resolved: datetime | None
    assignee_id: str | None
    reporter_id: str
    priority: str
    labels: list[str]
    parent_key: str | None
    custom: dict[str, Any]
    histories: list[History]            # oldest first
    comments: list[Comment] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    pull_requests: list[dict[str, Any]] = field(default_factory=list)


def _account_id(name: str) -> str:
    return "5b10ac8d82e05b22cc7d" + hashlib.sha1(name.encode()).hexdigest()[:20]


class JiraDataset:
    """A whole fake site. Reads and edits hold `lock` (the server reads from its own thread)."""

    def __init__(self, seed: int, projects: list[c.Project], statuses: list[c.Status],
                 issue_types: list[c.IssueType], fields: list[c.FieldDef]) -> None:
        self.seed = seed
        self.lock = threading.RLock()
        self.projects = projects
        self.statuses = statuses
        self.issue_types = issue_types
        self.fields = fields
        self.link_types = list(c.LINK_TYPES)
        self._status_by_id = {s.id: s for s in statuses}
        self.users = {_account_id(n): n for n in c.USER_NAMES}
        self.issues: dict[int, Issue] = {}
        self.by_key: dict[str, int] = {}
        self.deleted: dict[int, str] = {}
        self.version = 0
        self.long_changelog_key = ""
        self._next_number = {p.id: 1 for p in projects}
        self._next_history_id = 900_000_000
        self._next_comment_id = 900_000_000
        self._next_link_id = 900_000_000

    # ----- generation -------------------------------------------------------------------------
    @classmethod
    def generate(cls, seed: int = 7, issues: int = 60, projects: int = 3, extra_custom_fields: int = 24,
                 span_days: int = 240) -> JiraDataset:
        if issues < 0 or not 1 <= projects <= len(c.PROJECT_TEMPLATES) or extra_custom_fields < 0:
            raise ValueError(f"bad dataset size: issues={issues} projects={projects} "
                             f"extra_custom_fields={extra_custom_fields} (projects 1..{len(c.PROJECT_TEMPLATES)})")
        project_list = [c.Project(str(10000 + i), key, name, team)
                        for i, (key, name, team) in enumerate(c.PROJECT_TEMPLATES[:projects])]
        statuses, types = list(c.GLOBAL_STATUSES), list(c.GLOBAL_ISSUE_TYPES)
        for n, p in enumerate(project_list):
            if p.team_managed:
                base = 10100 + 100 * n
                statuses += [c.Status(str(base + i), name, cat, p.id) for i, (name, cat) in enumerate(c.TEAM_STATUS_NAMES)]
                types += [c.IssueType(str(base + i), name, sub, level, p.id)
                          for i, (name, sub, level) in enumerate(c.TEAM_TYPE_NAMES)]
        fields = list(c.SYSTEM_FIELDS) + list(c.SPECIAL_CUSTOM_FIELDS)
        for i in range(extra_custom_fields):
            name, schema, custom, items = c.EXTRA_FIELD_KINDS[i % len(c.EXTRA_FIELD_KINDS)]
            suffix = f" {i // len(c.EXTRA_FIELD_KINDS) + 1}" if i >= len(c.EXTRA_FIELD_KINDS) else ""
            fields.append(c.FieldDef(f"customfield_{10100 + i}", name + suffix, schema, custom, items))
        data = cls(seed, project_list, statuses, types, fields)
        spacing = timedelta(days=span_days) / max(issues, 1)
        for index in range(issues):
            rng = random.Random(f"{seed}:{index}")
            project = project_list[index % projects]
            created = (BASE_TIME + spacing * index + timedelta(minutes=rng.randint(0, 600))).replace(microsecond=0)
            if index == LONG_CHANGELOG_INDEX:
                n_hist = LONG_CHANGELOG_HISTORIES
            elif index % 97 == 5:
                n_hist = rng.randint(101, 180)
            else:
                n_hist = rng.choice([0, 1, 2, 3, 4, 5, 6, 8, 10, 14])
            issue = data._generated_issue(rng, index, project, created, n_hist)
            if index == LONG_CHANGELOG_INDEX:
                data.long_changelog_key = issue.key
        data._link_generated(random.Random(f"{seed}:links"))
        return data

    def project_statuses(self, project: c.Project) -> list[c.Status]:
        scope = project.id if project.team_managed else None
        return [s for s in self.statuses if s.project_id == scope]

    def status(self, status_id: str) -> c.Status:
        return self._status_by_id[status_id]

    def project_issue_types(self, project: c.Project) -> list[c.IssueType]:
        scope = project.id if project.team_managed else None
        return [t for t in self.issue_types if t.project_id == scope]

    def project(self, project_id: str) -> c.Project:
        return next(p for p in self.projects if p.id == project_id)

    def _generated_issue(self, rng: random.Random, index: int, project: c.Project, created: datetime,
                         n_hist: int) -> Issue:
        statuses = {s.name: s for s in self.project_statuses(project)}
        types = [t for t in self.project_issue_types(project) if not t.subtask and t.hierarchy_level == 0]
        users = list(self.users)
        if project.team_managed:
            start = "To Do"
        else:
            start = rng.choices(["Backlog", "To Do", "In Progress", "Done"], [70, 22, 6, 2])[0]
        number = self._next_number[project.id]
        self._next_number[project.id] += 1
        issue = Issue(
            id=10000 + index, key=f"{project.key}-{number}", project_id=project.id,
            type_id=rng.choice(types).id, summary=f"{rng.choice(['Add', 'Fix', 'Refactor', 'Document'])} "
            f"{rng.choice(['login', 'search', 'billing', 'export', 'sync', 'alerts'])} flow #{index}",
            description=f"Generated issue {index} of seed {self.seed}.", status_id=statuses[start].id,
            created=created, updated=created, status_changed=created, resolved=None,
            assignee_id=rng.choice(users + [None]), reporter_id=rng.choice(users), priority=rng.choice(c.PRIORITIES),
            labels=sorted(rng.sample(c.LABELS, rng.randint(0, 2))),
            parent_key=None, custom={}, histories=[])
        if start == "Done":
            issue.resolved = created
        self._generated_custom_values(rng, issue, project)
        moment = created
        heavy = n_hist > 100
        for n in range(n_hist):
            moment += timedelta(minutes=rng.randint(20, 240) if heavy else rng.randint(30, 60 * 48))
            author = rng.choice(users)
            status_name = self._status_name(issue)
            move = self._next_status(rng, project, status_name, heavy)
            if move is not None and (heavy or rng.random() < 0.55):
                items = [self._set_status(issue, statuses[move], moment)]
            else:
                items = [self._field_change(rng, issue, project, users)]
            issue.histories.append(History(100_000 + index * 1000 + n, moment, author, items))
            issue.updated = moment
        for n in range(rng.randint(0, 3) if index % MANY_COMMENTS_EVERY != 7 else 27):
            at = (created + timedelta(hours=rng.randint(1, 24 * 20))).replace(microsecond=0)
            issue.comments.append(Comment(200_000 + index * 100 + n, rng.choice(users),
                                          f"Comment {n} on {issue.key}", at, at))
            issue.updated = max(issue.updated, at)
        issue.comments.sort(key=lambda cm: (cm.created, cm.id))
        if not project.team_managed and any(
                it["fieldId"] == "status" and it["toString"] == "In Progress"
                for h in issue.histories for it in h.items) and rng.random() < 0.6:
            issue.pull_requests = self._pull_requests(rng, issue, project)
        issue.custom[c.DEVELOPMENT] = development_field(issue.pull_requests)
        self._store(issue)
        return issue

    def _generated_custom_values(self, rng: random.Random, issue: Issue, project: c.Project) -> None:
        points = rng.choice([None, 1, 2, 3, 5, 8, 13])
        issue.custom[c.STORY_POINT_ESTIMATE if project.team_managed else c.STORY_POINTS] = points
        team_id, team_name = rng.choice(c.TEAMS)
        issue.custom[c.TEAM_FIELD] = {"id": team_id, "name": team_name, "title": team_name, "isShared": True}
        issue.custom[c.RANK] = f"0|i{issue.id:05d}:"
        if rng.random() < 0.5:
            sprint = rng.randint(1, 12)
            issue.custom[c.SPRINT] = [{"id": sprint, "name": f"{project.key} Sprint {sprint}",
                                       "state": "closed" if sprint < 12 else "active", "boardId": 1}]
        issue.custom[c.CODE_CHANGED] = rng.choice([None, {"value": "Yes", "id": "10200"},
                                                   {"value": "No", "id": "10201"}])
        for f in self.fields:
            if f.custom_type and f.id not in _SPECIAL_IDS and rng.random() < 0.35:
                issue.custom[f.id] = _extra_value(rng, f, list(self.users))

    @staticmethod
    def _next_status(rng: random.Random, project: c.Project, current: str, heavy: bool) -> str | None:
        flow: dict[str, list[tuple[str, int]]] = {
            "Backlog": [("To Do", 70), ("Won't Do", 8), ("In Progress", 10)],
            "To Do": [("In Progress", 70), ("Backlog", 15), ("Won't Do", 5)],
            "In Progress": [("In Review", 60), ("Done", 20), ("To Do", 10), ("Backlog", 4)],
            "In Review": [("Done", 60), ("In Progress", 40)],
            "Done": [("In Progress", 30 if heavy else 4)],
            "Won't Do": [("Backlog", 20 if heavy else 2)],
        }
        options = [(name, w) for name, w in flow[current]
                   if not (project.team_managed and name in ("Backlog", "Won't Do"))]
        if not options or (current in ("Done", "Won't Do") and not heavy and rng.random() < 0.9):
            return None
        return rng.choices([n for n, _ in options], [w for _, w in options])[0]

    def _status_name(self, issue: Issue) -> str:
        return self._status_by_id[issue.status_id].name

    def _set_status(self, issue: Issue, target: c.Status, at: datetime) -> dict[str, Any]:
        old = self._status_by_id[issue.status_id]
        issue.status_id = target.id
        if old.category != target.category:
            issue.status_changed = at
        issue.resolved = at if target.category == "done" else None
        return {"field": "status", "fieldtype": "jira", "fieldId": "status", "from": old.id,
                "fromString": old.name, "to": target.id, "toString": target.name}

    def _field_change(self, rng: random.Random, issue: Issue, project: c.Project, users: list[str]) -> dict[str, Any]:
        kind = rng.choice(["assignee", "priority", "labels", "points"])
        if kind == "assignee":
            old, issue.assignee_id = issue.assignee_id, rng.choice(users)
            return {"field": "assignee", "fieldtype": "jira", "fieldId": "assignee", "from": old,
                    "fromString": self.users.get(old or ""), "to": issue.assignee_id,
                    "toString": self.users[issue.assignee_id]}
        if kind == "priority":
            old_p, issue.priority = issue.priority, rng.choice(c.PRIORITIES)
            return {"field": "priority", "fieldtype": "jira", "fieldId": "priority", "from": None,
                    "fromString": old_p, "to": None, "toString": issue.priority}
        if kind == "labels":
            old_l, issue.labels = issue.labels, sorted(rng.sample(c.LABELS, rng.randint(0, 3)))
            return {"field": "labels", "fieldtype": "jira", "fieldId": "labels", "from": None,
                    "fromString": " ".join(old_l), "to": None, "toString": " ".join(issue.labels)}
        field_id = c.STORY_POINT_ESTIMATE if project.team_managed else c.STORY_POINTS
        old_v, new_v = issue.custom.get(field_id), rng.choice([1, 2, 3, 5, 8, 13])
        issue.custom[field_id] = new_v
        name = next(f.name for f in self.fields if f.id == field_id)
        return {"field": name, "fieldtype": "custom", "fieldId": field_id, "from": None,
                "fromString": None if old_v is None else str(old_v), "to": None, "toString": str(new_v)}

    def _pull_requests(self, rng: random.Random, issue: Issue, project: c.Project) -> list[dict[str, Any]]:
        done = self._status_by_id[issue.status_id].category == "done"
        prs = []
        for n in range(rng.randint(1, 3)):
            number = issue.id * 10 + n
            state = "MERGED" if done and n == 0 else rng.choice(["OPEN", "MERGED", "DECLINED"])
            prs.append({"number": number, "repository": f"acme/{project.key.lower()}", "status": state,
                        "title": f"{issue.key} {issue.summary.lower()}", "branch": f"{issue.key}-work-{n}",
                        "author": self.users[rng.choice(list(self.users))], "updated": issue.updated})
        return prs

    def _link_generated(self, rng: random.Random) -> None:
        ordered = sorted(self.issues.values(), key=lambda i: i.id)
        previous_in_project: dict[str, Issue] = {}
        for issue in ordered:
            other = previous_in_project.get(issue.project_id)
            previous_in_project[issue.project_id] = issue
            if other is not None and rng.random() < 0.3:
                self._link(issue, other, rng.choice(self.link_types).id, 300_000 + issue.id)

    def _link(self, source: Issue, target: Issue, type_id: str, link_id: int) -> None:
        source.links.append(Link(link_id, type_id, True, target.id))
        target.links.append(Link(link_id, type_id, False, source.id))

    def _store(self, issue: Issue) -> None:
        self.issues[issue.id] = issue
        self.by_key[issue.key] = issue.id
        self.version += 1

    # ----- lookups ----------------------------------------------------------------------------
    def find(self, id_or_key: str) -> Issue | None:
        """A live issue by numeric id or key (None when unknown or deleted)."""
        with self.lock:
            issue_id = int(id_or_key) if id_or_key.isdigit() else self.by_key.get(id_or_key.upper())
            return self.issues.get(issue_id) if issue_id is not None else None

    def live_issues(self) -> list[Issue]:
        with self.lock:
            return list(self.issues.values())

    # ----- run-time edits ---------------------------------------------------------------------
    def _require(self, key: str) -> Issue:
        issue = self.find(key)
        if issue is None:
            raise KeyError(f"no live issue {key!r} in the fake Jira")
        return issue

    def _history(self, issue: Issue, at: datetime, items: list[dict[str, Any]]) -> None:
        self._next_history_id += 1
        issue.histories.append(History(self._next_history_id, at, next(iter(self.users)), items))

    def edit_issue(self, key: str, *, summary: str | None = None, status: str | None = None,
                   fields: dict[str, Any] | None = None, at: datetime | None = None) -> Issue:
        """Change an issue now (or `at`): summary, status (a name in the issue's project or an id),
        custom fields; each change writes a changelog history and bumps `updated`."""
        moment = (at or datetime.now(UTC)).replace(microsecond=0)
        with self.lock:
            issue = self._require(key)
            items: list[dict[str, Any]] = []
            if summary is not None:
                items.append({"field": "summary", "fieldtype": "jira", "fieldId": "summary", "from": None,
                              "fromString": issue.summary, "to": None, "toString": summary})
                issue.summary = summary
            if status is not None:
                project = self.project(issue.project_id)
                target = next((s for s in self.project_statuses(project) if status in (s.id, s.name)), None)
                if target is None:
                    raise KeyError(f"status {status!r} is not a status of project {project.key}")
                items.append(self._set_status(issue, target, moment))
            for field_id, value in (fields or {}).items():
                items.append({"field": field_id, "fieldtype": "custom", "fieldId": field_id, "from": None,
                              "fromString": str(issue.custom.get(field_id)), "to": None, "toString": str(value)})
                issue.custom[field_id] = value
            if items:
                self._history(issue, moment, items)
            issue.updated = moment
            self.version += 1
            return issue

    def add_issue(self, project_key: str, summary: str, *, status: str | None = None,
                  at: datetime | None = None) -> Issue:
        """A new issue in the project, created now (or `at`)."""
        moment = (at or datetime.now(UTC)).replace(microsecond=0)
        with self.lock:
            project = next((p for p in self.projects if p.key == project_key), None)
            if project is None:
                raise KeyError(f"no project {project_key!r} in the fake Jira")
            statuses = self.project_statuses(project)
            start = next(s for s in statuses if s.category == "new") if status is None else \
                next(s for s in statuses if status in (s.id, s.name))
            number = self._next_number[project.id]
            self._next_number[project.id] += 1
            new_id = max([*self.issues, *self.deleted, 9999]) + 1
            issue = Issue(new_id, f"{project.key}-{number}", project.id, self.project_issue_types(project)[0].id,
                          summary, "", start.id, moment, moment, moment, None, None, next(iter(self.users)),
                          "Medium", [], None, {c.DEVELOPMENT: development_field([])}, [])
            self._store(issue)
            return issue

    def set_pull_requests(self, key: str, pull_requests: list[dict[str, Any]], at: datetime | None = None) -> Issue:
        """Replace the issue's pull requests (as dev-status shows them; the Development field
        follows) and bump `updated`, as a PR linked or unlinked in Jira does."""
        moment = (at or datetime.now(UTC)).replace(microsecond=0)
        with self.lock:
            issue = self._require(key)
            issue.pull_requests = [dict(pr) for pr in pull_requests]
            issue.custom[c.DEVELOPMENT] = development_field(issue.pull_requests)
            issue.updated = moment
            self.version += 1
            return issue

    def delete_issue(self, key: str) -> None:
        with self.lock:
            issue = self._require(key)
            del self.issues[issue.id]
            del self.by_key[issue.key]
            self.deleted[issue.id] = issue.key
            for other in self.issues.values():
                other.links = [lk for lk in other.links if lk.other_id != issue.id]
            self.version += 1

    def add_comment(self, key: str, body: str, at: datetime | None = None) -> Comment:
        moment = (at or datetime.now(UTC)).replace(microsecond=0)
        with self.lock:
            issue = self._require(key)
            self._next_comment_id += 1
            comment = Comment(self._next_comment_id, next(iter(self.users)), body, moment, moment)
            issue.comments.append(comment)
            issue.updated = moment
            self.version += 1
            return comment

    def fingerprint(self) -> str:
        """A digest of everything generated: equal for equal seeds and sizes."""
        digest = hashlib.sha256()
        with self.lock:
            for issue in sorted(self.issues.values(), key=lambda i: i.id):
                digest.update(repr((issue.key, issue.status_id, issue.created, issue.updated, issue.custom,
                                    [(h.id, h.created, h.items) for h in issue.histories],
                                    [(cm.id, cm.created) for cm in issue.comments],
                                    [(lk.id, lk.other_id) for lk in issue.links],
                                    issue.pull_requests)).encode())
        return digest.hexdigest()


def _extra_value(rng: random.Random, f: c.FieldDef, users: list[str]) -> Any:
    if f.schema_type == "option":
        return {"value": rng.choice(["Low", "Medium", "High", "Critical"]), "id": str(rng.randint(10300, 10310))}
    if f.schema_type == "number":
        return rng.choice([1000, 2500.5, 40000])
    if f.schema_type == "date":
        return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if f.schema_type == "user":
        return {"accountId": rng.choice(users)}
    if f.schema_type == "array":
        return [{"value": v, "id": str(10400 + i)} for i, v in enumerate(rng.sample(["web", "ios", "api"], 2))]
    if f.custom_type and f.custom_type.endswith(":textarea"):
        return {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": f"Runs on {rng.choice(['k8s', 'vm'])}"}]}]}
    return rng.choice(["Acme Corp", "Globex", "Initech"])


def development_field(pull_requests: list[dict[str, Any]]) -> str:
    """The Development field as Jira renders it: a summary string, "{}" without dev data."""
    if not pull_requests:
        return "{}"
    states = {pr["status"] for pr in pull_requests}
    state = "OPEN" if "OPEN" in states else ("MERGED" if "MERGED" in states else "DECLINED")
    count = len(pull_requests)
    return ("{pullrequest={dataType=pullrequest, state=" + state + f", stateCount={count}}}, json="
            '{"cachedValue":{"errors":[],"summary":{"pullrequest":{"overall":{"count":' + str(count)
            + ',"lastUpdated":null,"stateCount":' + str(count) + ',"state":"' + state
            + '","dataType":"pullrequest","open":' + ("true" if state == "OPEN" else "false")
            + '},"byInstanceType":{"GitHub":{"count":' + str(count) + ',"name":"GitHub"}}}}},"isStale":true}}')
