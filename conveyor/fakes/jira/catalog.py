"""The fixed parts of the fake Jira site: projects, statuses, issue types, fields, link types.

Ids follow Jira Cloud's conventions (numeric strings; custom fields `customfield_N`). The
team-managed project has its own statuses and issue types whose names repeat the global ones,
as real team-managed projects do.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    key: str
    name: str
    team_managed: bool


@dataclass(frozen=True, slots=True)
class Status:
    id: str
    name: str
    category: str           # new | indeterminate | done
    project_id: str | None  # set for a team-managed project's own statuses


@dataclass(frozen=True, slots=True)
class IssueType:
    id: str
    name: str
    subtask: bool
    hierarchy_level: int
    project_id: str | None


@dataclass(frozen=True, slots=True)
class FieldDef:
    id: str
    name: str
    schema_type: str
    custom_type: str | None = None  # schema.custom; None for system fields
    items: str | None = None


@dataclass(frozen=True, slots=True)
class LinkType:
    id: str
    name: str
    inward: str
    outward: str


PROJECT_TEMPLATES = [
    ("ALPHA", "Alpha Platform", False), ("BETA", "Beta Mobile", False), ("TEAM", "Team Rocket", True),
    ("GAMMA", "Gamma Data", False), ("DELTA", "Delta Web", False), ("OMEGA", "Omega Ops", True),
]

CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
# `/statuses/search` spells the category as an enum.
CATEGORY_ENUM = {"new": "TODO", "indeterminate": "IN_PROGRESS", "done": "DONE"}

GLOBAL_STATUSES = [
    Status("10000", "Backlog", "new", None), Status("10001", "To Do", "new", None),
    Status("3", "In Progress", "indeterminate", None), Status("10002", "In Review", "indeterminate", None),
    Status("10003", "Done", "done", None), Status("10004", "Won't Do", "done", None),
]
# Team-managed projects: "To Do", "In Progress", "In Review", "Done", numbered per project.
TEAM_STATUS_NAMES = [("To Do", "new"), ("In Progress", "indeterminate"), ("In Review", "indeterminate"),
                     ("Done", "done")]

GLOBAL_ISSUE_TYPES = [
    IssueType("10001", "Story", False, 0, None), IssueType("10002", "Bug", False, 0, None),
    IssueType("10003", "Task", False, 0, None), IssueType("10004", "Sub-task", True, -1, None),
    IssueType("10005", "Epic", False, 1, None),
]
TEAM_TYPE_NAMES = [("Story", False, 0), ("Bug", False, 0), ("Task", False, 0), ("Subtask", True, -1),
                   ("Epic", False, 1)]

LINK_TYPES = [
    LinkType("10000", "Blocks", "is blocked by", "blocks"),
    LinkType("10001", "Cloners", "is cloned by", "clones"),
    LinkType("10002", "Duplicate", "is duplicated by", "duplicates"),
    LinkType("10003", "Relates", "relates to", "relates to"),
]

_SYS = "com.atlassian.jira.plugin.system.customfieldtypes:"
_GH = "com.pyxis.greenhopper.jira:"
DEVELOPMENT = "customfield_10000"
TEAM_FIELD = "customfield_10001"
EPIC_LINK = "customfield_10014"
STORY_POINT_ESTIMATE = "customfield_10016"  # team-managed projects
RANK = "customfield_10019"
SPRINT = "customfield_10020"
STORY_POINTS = "customfield_10026"          # classic projects
CODE_CHANGED = "customfield_10030"

SYSTEM_FIELDS = [
    FieldDef("summary", "Summary", "string"), FieldDef("description", "Description", "string"),
    FieldDef("status", "Status", "status"), FieldDef("issuetype", "Issue Type", "issuetype"),
    FieldDef("project", "Project", "project"), FieldDef("created", "Created", "datetime"),
    FieldDef("updated", "Updated", "datetime"), FieldDef("resolutiondate", "Resolved", "datetime"),
    FieldDef("statuscategorychangedate", "Status Category Changed", "datetime"),
    FieldDef("assignee", "Assignee", "user"), FieldDef("reporter", "Reporter", "user"),
    FieldDef("priority", "Priority", "priority"), FieldDef("labels", "Labels", "array", items="string"),
    FieldDef("parent", "Parent", "issuelink"), FieldDef("issuelinks", "Linked Issues", "array", items="issuelinks"),
    FieldDef("comment", "Comment", "comments-page"),
]
SPECIAL_CUSTOM_FIELDS = [
    FieldDef(DEVELOPMENT, "Development", "any",
             "com.atlassian.jira.plugins.jira-development-integration-plugin:devsummarycf"),
    FieldDef(TEAM_FIELD, "Team", "team", _SYS + "atlassian-team"),
    FieldDef(EPIC_LINK, "Epic Link", "any", _GH + "gh-epic-link"),
    FieldDef(STORY_POINT_ESTIMATE, "Story point estimate", "number", _GH + "jsw-story-points"),
    FieldDef(RANK, "Rank", "any", _GH + "gh-lexo-rank"),
    FieldDef(SPRINT, "Sprint", "array", _GH + "gh-sprint", items="json"),
    FieldDef(STORY_POINTS, "Story Points", "number", _SYS + "float"),
    FieldDef(CODE_CHANGED, "Code Changed", "option", _SYS + "select"),
]
# Extra custom fields, cycled to the requested count: (name, schema type, custom type, items).
EXTRA_FIELD_KINDS = [
    ("Severity", "option", _SYS + "select", None), ("Customer", "string", _SYS + "textfield", None),
    ("Environment details", "string", _SYS + "textarea", None), ("Budget", "number", _SYS + "float", None),
    ("Target start", "date", _SYS + "datepicker", None), ("Reviewer", "user", _SYS + "userpicker", None),
    ("Components impacted", "array", _SYS + "multicheckboxes", "option"),
    ("Release train", "option", _SYS + "select", None),
]
PRIORITIES = ["Highest", "High", "Medium", "Low", "Lowest"]
TEAMS = [("36885b3c-1bf0-4f85-a357-c5b858c31de4", "Platform"), ("a9e1c2d4-8f3b-4c7e-9d1a-2b3c4d5e6f70", "Mobile"),
         ("0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9", "Data")]
LABELS = ["api", "ui", "backend", "infra", "security", "tech-debt", "customer"]
USER_NAMES = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov",
              "Ken Thompson", "Margaret Hamilton", "Donald Knuth"]
