"""JSON bodies in Jira Cloud's shapes (REST v3 and dev-status), rendered from the dataset.

Datetimes are rendered in the API user's time zone (`2026-01-05T20:12:00.000+1100`), as Jira
renders them; the bulk changelog dates histories in epoch seconds, as its documented example does.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, tzinfo
from typing import Any

from conveyor.fakes.jira import catalog as c
from conveyor.fakes.jira.dataset import Comment, History, Issue, JiraDataset

INLINE_CHANGELOG_CAP = 40
INLINE_COMMENT_CAP = 20
# The fields `*navigable` (and `*all`) return; `comment` and the custom fields come with `*all`.
NAVIGABLE = ("summary", "status", "issuetype", "project", "created", "updated", "resolutiondate",
             "statuscategorychangedate", "assignee", "reporter", "priority", "labels", "parent",
             "issuelinks", "description")


def jira_time(moment: datetime, tz: tzinfo) -> str:
    local = moment.astimezone(tz)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")


def _repository_id(name: str) -> str:
    return str(int(hashlib.sha1(name.encode()).hexdigest()[:8], 16))


class Renderer:
    def __init__(self, data: JiraDataset, base_url: str, tz: tzinfo) -> None:
        self.data, self.base, self.tz = data, base_url.rstrip("/"), tz

    def user(self, account_id: str | None) -> dict[str, Any] | None:
        if account_id is None:
            return None
        return {"self": f"{self.base}/rest/api/3/user?accountId={account_id}", "accountId": account_id,
                "displayName": self.data.users.get(account_id, "Former user"), "active": True,
                "accountType": "atlassian"}

    def issue_type(self, t: c.IssueType) -> dict[str, Any]:
        out: dict[str, Any] = {"self": f"{self.base}/rest/api/3/issuetype/{t.id}", "id": t.id, "name": t.name,
                               "description": f"A {t.name.lower()}.", "subtask": t.subtask,
                               "hierarchyLevel": t.hierarchy_level}
        if t.project_id is not None:
            out["entityId"] = f"00000000-0000-4000-8000-{int(t.id):012d}"
            out["scope"] = {"type": "PROJECT", "project": {"id": t.project_id}}
        return out

    def project(self, p: c.Project, expand: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"self": f"{self.base}/rest/api/3/project/{p.id}", "id": p.id, "key": p.key,
                               "name": p.name, "projectTypeKey": "software", "simplified": p.team_managed,
                               "style": "next-gen" if p.team_managed else "classic", "isPrivate": False}
        if "issueTypes" in expand:
            out["issueTypes"] = [self.issue_type(t) for t in self.data.project_issue_types(p)]
        if "description" in expand:
            out["description"] = f"The {p.name} project."
        return out

    def status_legacy(self, s: c.Status) -> dict[str, Any]:
        cat = c.CATEGORIES[s.category]
        out: dict[str, Any] = {"self": f"{self.base}/rest/api/3/status/{s.id}", "id": s.id, "name": s.name,
                               "description": "", "iconUrl": f"{self.base}/images/icons/statuses/generic.png",
                               "statusCategory": {"self": f"{self.base}/rest/api/3/statuscategory/{cat['id']}",
                                                  **cat}}
        if s.project_id is not None:
            out["scope"] = {"type": "PROJECT", "project": {"id": s.project_id}}
        return out

    def status_search(self, s: c.Status) -> dict[str, Any]:
        scope = ({"type": "PROJECT", "project": {"id": s.project_id}} if s.project_id is not None
                 else {"type": "GLOBAL"})
        return {"id": s.id, "name": s.name, "statusCategory": c.CATEGORY_ENUM[s.category], "description": "",
                "scope": scope, "usages": []}

    @staticmethod
    def field(f: c.FieldDef) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": f.schema_type}
        if f.items:
            schema["items"] = f.items
        if f.custom_type:
            custom_id = int(f.id.rsplit("_", 1)[1])
            schema.update(custom=f.custom_type, customId=custom_id)
            clause = [f"cf[{custom_id}]", f.name]
        else:
            schema["system"] = f.id
            clause = [f.id]
        return {"id": f.id, "key": f.id, "name": f.name, "custom": f.custom_type is not None, "orderable": True,
                "navigable": True, "searchable": True, "clauseNames": clause, "schema": schema}

    def history(self, h: History, *, epoch: bool = False) -> dict[str, Any]:
        return {"id": str(h.id), "author": self.user(h.author_id),
                "created": int(h.created.timestamp()) if epoch else jira_time(h.created, self.tz),
                "items": [dict(item) for item in h.items]}

    def comment(self, issue: Issue, cm: Comment) -> dict[str, Any]:
        return {"self": f"{self.base}/rest/api/3/issue/{issue.id}/comment/{cm.id}", "id": str(cm.id),
                "author": self.user(cm.author_id), "updateAuthor": self.user(cm.author_id),
                "body": {"type": "doc", "version": 1, "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": cm.body}]}]},
                "created": jira_time(cm.created, self.tz), "updated": jira_time(cm.updated, self.tz),
                "jsdPublic": True}

    def _status_ref(self, status_id: str) -> dict[str, Any]:
        s = self.data.status(status_id)
        cat = c.CATEGORIES[s.category]
        return {"self": f"{self.base}/rest/api/3/status/{s.id}", "id": s.id, "name": s.name,
                "statusCategory": {"id": cat["id"], "key": cat["key"], "name": cat["name"],
                                   "colorName": cat["colorName"]}}

    def _links(self, issue: Issue) -> list[dict[str, Any]]:
        out = []
        for link in issue.links:
            other = self.data.issues.get(link.other_id)
            if other is None:
                continue
            lt = next(t for t in self.data.link_types if t.id == link.type_id)
            ref = {"id": str(other.id), "key": other.key, "self": f"{self.base}/rest/api/3/issue/{other.id}",
                   "fields": {"summary": other.summary, "status": self._status_ref(other.status_id)}}
            out.append({"id": str(link.id), "self": f"{self.base}/rest/api/3/issueLink/{link.id}",
                        "type": {"id": lt.id, "name": lt.name, "inward": lt.inward, "outward": lt.outward},
                        ("outwardIssue" if link.outward else "inwardIssue"): ref})
        return out

    def _field_value(self, issue: Issue, name: str) -> Any:
        project = self.data.project(issue.project_id)
        if name == "summary":
            return issue.summary
        if name == "description":
            return {"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": issue.description}]}]} \
                if issue.description else None
        if name == "status":
            return self._status_ref(issue.status_id)
        if name == "issuetype":
            return self.issue_type(next(t for t in self.data.issue_types if t.id == issue.type_id))
        if name == "project":
            return {"id": project.id, "key": project.key, "name": project.name, "projectTypeKey": "software",
                    "simplified": project.team_managed}
        if name in ("created", "updated", "resolutiondate", "statuscategorychangedate"):
            moment = {"created": issue.created, "updated": issue.updated, "resolutiondate": issue.resolved,
                      "statuscategorychangedate": issue.status_changed}[name]
            return None if moment is None else jira_time(moment, self.tz)
        if name in ("assignee", "reporter"):
            return self.user(issue.assignee_id if name == "assignee" else issue.reporter_id)
        if name == "priority":
            return {"name": issue.priority, "id": str(1 + c.PRIORITIES.index(issue.priority))}
        if name == "labels":
            return list(issue.labels)
        if name == "parent":
            return {"key": issue.parent_key} if issue.parent_key else None
        if name == "issuelinks":
            return self._links(issue)
        if name == "comment":
            comments = issue.comments
            return {"comments": [self.comment(issue, cm) for cm in comments[:INLINE_COMMENT_CAP]],
                    "self": f"{self.base}/rest/api/3/issue/{issue.id}/comment",
                    "maxResults": INLINE_COMMENT_CAP, "total": len(comments), "startAt": 0}
        if name.startswith("customfield_"):
            return issue.custom.get(name)
        raise KeyError(name)

    def issue(self, issue: Issue, fields: list[str], expand_changelog: bool) -> dict[str, Any]:
        wanted: list[str] = []
        for name in fields:
            if name in ("*all", "*navigable"):
                wanted += list(NAVIGABLE)
                if name == "*all":
                    wanted += ["comment"] + [f.id for f in self.data.fields if f.custom_type]
            elif not name.startswith("-"):
                wanted.append(name)
        excluded = {n[1:] for n in fields if n.startswith("-")}
        known = {f.id for f in self.data.fields}
        out: dict[str, Any] = {"expand": "renderedFields,names,schema,operations,changelog", "id": str(issue.id),
                               "self": f"{self.base}/rest/api/3/issue/{issue.id}", "key": issue.key}
        values = {n: self._field_value(issue, n) for n in dict.fromkeys(wanted)
                  if n in known and n not in excluded and n not in ("id", "key")}
        if values:
            out["fields"] = values
        if expand_changelog:
            newest = list(reversed(issue.histories))[:INLINE_CHANGELOG_CAP]
            out["changelog"] = {"startAt": 0, "maxResults": INLINE_CHANGELOG_CAP, "total": len(issue.histories),
                                "histories": [self.history(h) for h in newest]}
        return out

    # ----- dev-status ---------------------------------------------------------------------------
    def dev_summary(self, issue: Issue) -> dict[str, Any]:
        prs = issue.pull_requests
        states = {pr["status"] for pr in prs}
        state = "OPEN" if "OPEN" in states else ("MERGED" if "MERGED" in states else ("DECLINED" if prs else None))
        last = jira_time(max(pr["updated"] for pr in prs), self.tz) if prs else None
        by_instance = {"GitHub": {"count": len(prs), "name": "GitHub"}} if prs else {}
        repos = {pr["repository"] for pr in prs}
        return {"errors": [], "configErrors": [], "summary": {
            "pullrequest": {"overall": {"count": len(prs), "lastUpdated": last, "stateCount": len(prs),
                                        "state": state, "dataType": "pullrequest", "open": state == "OPEN"},
                            "byInstanceType": by_instance},
            "repository": {"overall": {"count": len(repos), "lastUpdated": last, "dataType": "repository"},
                           "byInstanceType": {"GitHub": {"count": len(repos), "name": "GitHub"}} if repos else {}},
            "branch": {"overall": {"count": len(prs), "lastUpdated": last, "dataType": "branch"},
                       "byInstanceType": by_instance}}}

    def dev_detail(self, issue: Issue, application_type: str | None) -> dict[str, Any]:
        prs = issue.pull_requests if application_type in (None, "GitHub", "github") else []
        pulls = [{"id": f"#{pr['number']}", "name": pr["title"],
                  "url": f"https://github.com/{pr['repository']}/pull/{pr['number']}", "status": pr["status"],
                  "author": {"name": pr["author"], "avatar": "https://avatars.example/u.png"},
                  "commentCount": pr["number"] % 5, "lastUpdate": jira_time(pr["updated"], self.tz),
                  "source": {"branch": pr["branch"], "url": f"https://github.com/{pr['repository']}/tree/{pr['branch']}"},
                  "destination": {"branch": "main", "url": f"https://github.com/{pr['repository']}/tree/main"},
                  "reviewers": [{"name": "hubot", "approved": pr["status"] == "MERGED"}],
                  "repositoryId": _repository_id(pr["repository"]), "repositoryName": pr["repository"],
                  "repositoryUrl": f"https://github.com/{pr['repository']}"} for pr in prs]
        return {"errors": [], "detail": [{"pullRequests": pulls, "branches": [], "repositories": [],
                                          "_instance": {"name": "GitHub", "type": "GitHub", "id": "gh-1",
                                                        "typeName": "GitHub", "baseUrl": "https://github.com",
                                                        "singleInstance": False}}]}
