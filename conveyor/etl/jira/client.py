"""The Jira Cloud client of the ETL: every endpoint the four steps read, paged to the end.

Paged endpoints come as iterators of `Page`s (raw answer + request fingerprint + next cursor),
so a step can store each page and its cursor in one transaction and resume from the cursor.
Issue search uses `POST /rest/api/3/search/jql` only; the retired `/rest/api/3/search` is
refused before any request is made. Throttling raises `RateLimitParked` when the wait is long;
401/403 raise `JiraPermissionError`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from conveyor.etl.jira.changelog import merge_histories
from conveyor.etl.jira.errors import JiraDataError, JiraRequestError
from conveyor.etl.jira.transport import JiraTransport, Page

log = logging.getLogger("conveyor.etl.jira")
API = "/rest/api/3"
DEV_STATUS = "/rest/dev-status/1.0/issue"
# The system fields the issues step asks for; the discovered custom fields are added to them.
ISSUE_SYSTEM_FIELDS = ("summary", "description", "status", "issuetype", "project", "created", "updated",
                       "resolutiondate", "statuscategorychangedate", "assignee", "reporter", "priority",
                       "labels", "parent", "issuelinks", "comment")


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def require_numeric_issue_id(issue_id: str | int) -> str:
    """Dev-status only knows numeric issue ids; a key there is answered with a 400 or nothing."""
    text = str(issue_id).strip()
    if not text.isdigit():
        raise ValueError(f"dev-status needs the numeric issue id (such as 10010), not {issue_id!r}")
    return text


class JiraClient(JiraTransport):
    """`JiraClient(base_url, BasicAuth(email, token))`; see JiraTransport for the keyword options."""

    _bulk_changelog_supported = True

    def __enter__(self) -> JiraClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- single answers ---------------------------------------------------------------------
    def myself(self) -> dict[str, Any]:
        """The API user, with `timeZone`: the zone JQL dates are read in."""
        return dict(self.call("GET", f"{API}/myself")[1])

    def _single(self, path: str, params: Mapping[str, Any] | None = None, items_key: str | None = None) -> Page:
        info, body = self.call("GET", path, params)
        self.stats.pages += 1
        items = body.get(items_key, []) if items_key else body
        if not isinstance(items, list):
            raise JiraDataError(f"GET {path} returned {type(items).__name__}, expected a list")
        return Page(info, body, items, None)

    def issue_types(self) -> Page:
        return self._single(f"{API}/issuetype")

    def project_issue_types(self, project_id: str) -> Page:
        """A team-managed project's own issue types (they carry a `scope`)."""
        return self._single(f"{API}/issuetype/project", {"projectId": project_id})

    def statuses(self) -> Page:
        """Legacy `/status`: every status the user can see, with category objects."""
        return self._single(f"{API}/status")

    def status_categories(self) -> Page:
        return self._single(f"{API}/statuscategory")

    def issue_link_types(self) -> Page:
        return self._single(f"{API}/issueLinkType", items_key="issueLinkTypes")

    def fields(self) -> Page:
        """Every field of the site, for custom-field discovery."""
        return self._single(f"{API}/field")

    def approximate_count(self, jql: str) -> int:
        """Jira's estimate of how many issues match: the expected count of a run."""
        body = self.call("POST", f"{API}/search/approximate-count", body={"jql": jql})[1]
        return int(body.get("count", 0))

    # ----- startAt paging ---------------------------------------------------------------------
    def _offset_pages(self, path: str, params: Mapping[str, Any], page_size: int, start_at: int = 0,
                      items_key: str = "values") -> Iterator[Page]:
        """Pages of a `startAt`/`maxResults` endpoint until `isLast` (or `total` reached, or an
        empty page). `next_cursor` is the next `startAt`."""
        start = start_at
        for _ in range(self.settings.max_pages):
            query = {**params, "startAt": start, "maxResults": page_size}
            info, body = self.call("GET", path, query)
            self.stats.pages += 1
            items = list(body.get(items_key) or [])
            start += len(items)
            total = body.get("total")
            is_last = body.get("isLast")
            done = (not items or is_last is True
                    or (is_last is None and isinstance(total, int) and start >= total))
            yield Page(info, body, items, None if done else start)
            if done:
                return
        raise JiraDataError(f"GET {path} still had pages after {self.settings.max_pages}: stopped")

    def project_pages(self, start_at: int = 0, page_size: int = 50,
                      expand: str = "issueTypes,description") -> Iterator[Page]:
        return self._offset_pages(f"{API}/project/search", {"expand": expand}, page_size, start_at)

    def status_pages(self, project_id: str | None = None, start_at: int = 0, page_size: int = 200) -> Iterator[Page]:
        """`/statuses/search`, per project when given (a team-managed project's own statuses)."""
        params = {"projectId": project_id} if project_id else {}
        return self._offset_pages(f"{API}/statuses/search", params, page_size, start_at)

    def changelog_pages(self, issue_id_or_key: str, start_at: int = 0) -> Iterator[Page]:
        """One issue's changelog, oldest first."""
        return self._offset_pages(f"{API}/issue/{issue_id_or_key}/changelog", {},
                                  self.settings.changelog_page_size, start_at)

    def comment_pages(self, issue_id_or_key: str, start_at: int = 0) -> Iterator[Page]:
        return self._offset_pages(f"{API}/issue/{issue_id_or_key}/comment", {"orderBy": "created"},
                                  self.settings.comment_page_size, start_at, items_key="comments")

    # ----- token paging -----------------------------------------------------------------------
    def _token_pages(self, path: str, body: dict[str, Any], items_key: str, start_token: str | None,
                     seen: set[str] | None = None) -> Iterator[Page]:
        """Pages of a `nextPageToken` endpoint. Stops on a missing token, an empty page or a
        token seen before (Jira has answered each of these on a last page); `seen`: the tokens
        earlier jobs of the same paging used (updated as pages are read)."""
        token, seen = start_token, (set() if seen is None else seen)
        for _ in range(self.settings.max_pages):
            request = {**body, **({"nextPageToken": token} if token else {})}
            info, answer = self.call("POST", path, body=request)
            self.stats.pages += 1
            items = list(answer.get(items_key) or [])
            next_token = answer.get("nextPageToken") or None
            if next_token is not None and (not items or next_token in seen or next_token == token):
                self.stats.paging_anomalies += 1
                log.warning("JIRA_PAGING_STOP %s: %s with a next token; treating it as the last page", path,
                            "an empty page" if not items else "a repeated token")
                next_token = None
            if token:
                seen.add(token)
            yield Page(info, answer, items, next_token)
            if next_token is None:
                return
            token = next_token
        raise JiraDataError(f"POST {path} still had pages after {self.settings.max_pages}: stopped")

    def search_pages(self, jql: str, fields: Sequence[str], *, expand_changelog: bool = True,
                     start_token: str | None = None, page_size: int | None = None,
                     seen: set[str] | None = None) -> Iterator[Page]:
        """Issues matching a bounded JQL, with explicit fields (Jira's default is `id` only)."""
        if not fields:
            raise ValueError("search needs an explicit list of fields: Jira returns only ids without one")
        body: dict[str, Any] = {"jql": jql, "fields": list(fields),
                                "maxResults": page_size or self.settings.search_page_size}
        if expand_changelog:
            body["expand"] = "changelog"
        return self._token_pages(f"{API}/search/jql", body, "issues", start_token, seen)

    def issue_id_pages(self, jql: str, start_token: str | None = None) -> Iterator[Page]:
        """Ids and keys only, 5,000 a page: the cheap sweep that finds deleted issues."""
        body = {"jql": jql, "fields": ["id", "key"], "maxResults": self.settings.id_page_size}
        return self._token_pages(f"{API}/search/jql", body, "issues", start_token)

    def bulk_changelog_pages(self, issue_ids: Sequence[str], field_ids: Sequence[str] | None = None,
                             start_token: str | None = None) -> Iterator[Page]:
        """`POST /changelog/bulkfetch` for up to 1,000 issues; items are `issueChangeLogs` entries."""
        if not 0 < len(issue_ids) <= 1000:
            raise ValueError(f"bulkfetch takes 1 to 1000 issues, got {len(issue_ids)}")
        body: dict[str, Any] = {"issueIdsOrKeys": list(issue_ids),
                                "maxResults": self.settings.bulk_changelog_page_size}
        if field_ids:
            body["fieldIds"] = list(field_ids)
        return self._token_pages(f"{API}/changelog/bulkfetch", body, "issueChangeLogs", start_token)

    # ----- completing what search returns inline ---------------------------------------------
    def complete_changelogs(self, issues: Iterable[Mapping[str, Any]],
                            pages: list[Page] | None = None) -> dict[str, list[dict[str, Any]]]:
        """Every issue's whole changelog, oldest first, by issue id. The inline changelog of
        search/jql holds at most 40 histories: issues with more are topped up through bulkfetch,
        or page by page from `/issue/{id}/changelog` where bulkfetch fails or falls short.
        Pages fetched on the way are appended to `pages` (for the raw store)."""
        result: dict[str, list[dict[str, Any]]] = {}
        expected: dict[str, int] = {}
        for issue in issues:
            issue_id = str(issue["id"])
            changelog = issue.get("changelog")
            histories = list((changelog or {}).get("histories") or [])
            result[issue_id] = merge_histories(histories)
            total = (changelog or {}).get("total")
            if changelog is None or not isinstance(total, int) or total > len(histories):
                expected[issue_id] = total if isinstance(total, int) else -1
        short = list(expected)
        if short and self._bulk_changelog_supported:
            short = self._top_up_by_bulk(short, expected, result, pages)
        for issue_id in short:
            fetched: list[dict[str, Any]] = []
            total = 0
            for page in self.changelog_pages(issue_id):
                fetched += page.items
                total = page.body.get("total", len(fetched))
                if pages is not None:
                    pages.append(page)
            result[issue_id] = merge_histories(result[issue_id], fetched)
            if len(result[issue_id]) < total:
                raise JiraDataError(f"changelog of issue {issue_id} has {len(result[issue_id])} of {total} "
                                    "histories after paging to the end")
        return result

    def _top_up_by_bulk(self, issue_ids: list[str], expected: Mapping[str, int],
                        result: dict[str, list[dict[str, Any]]], pages: list[Page] | None) -> list[str]:
        """Fill `result` from bulkfetch; the ids still short of their expected total."""
        still_short: list[str] = []
        for batch in _chunks(issue_ids, self.settings.bulk_changelog_issues):
            collected: dict[str, list[dict[str, Any]]] = {i: [] for i in batch}
            try:
                for page in self.bulk_changelog_pages(batch):
                    if pages is not None:
                        pages.append(page)
                    for entry in page.items:
                        collected.setdefault(str(entry.get("issueId")), []).extend(entry.get("changeHistories") or [])
            except JiraRequestError as exc:
                if exc.status not in (404, 405, 501):
                    raise
                log.info("JIRA_BULK_CHANGELOG_UNSUPPORTED (%s): paging changelogs per issue", exc.status)
                self._bulk_changelog_supported = False
                return still_short + list(issue_ids[issue_ids.index(batch[0]):])
            for issue_id in batch:
                result[issue_id] = merge_histories(result[issue_id], collected.get(issue_id, []))
                # bulkfetch pages to the end; it is short only against an inline total it did not reach
                if len(result[issue_id]) < expected[issue_id]:
                    still_short.append(issue_id)
        return still_short

    def complete_comments(self, issue: Mapping[str, Any], pages: list[Page] | None = None) -> list[dict[str, Any]]:
        """An issue's comments, all of them (the inline `comment` field holds at most 20)."""
        inline = (issue.get("fields") or {}).get("comment") or {}
        comments = list(inline.get("comments") or [])
        if inline and inline.get("total", len(comments)) <= len(comments):
            return comments
        fetched: list[dict[str, Any]] = []
        for page in self.comment_pages(str(issue["id"])):
            fetched += page.items
            if pages is not None:
                pages.append(page)
        return fetched

    # ----- dev-status -------------------------------------------------------------------------
    def dev_status_summary(self, issue_id: str | int) -> Page:
        """Counts of pull requests, branches and repositories by instance type (numeric id only)."""
        info, body = self.call("GET", f"{DEV_STATUS}/summary", {"issueId": require_numeric_issue_id(issue_id)})
        self.stats.pages += 1
        return Page(info, body, [body.get("summary") or {}], None)

    def dev_status_pull_requests(self, issue_id: str | int, application_type: str = "GitHub") -> Page:
        """The pull requests of one issue from one instance type; items are the pull requests."""
        params = {"issueId": require_numeric_issue_id(issue_id), "applicationType": application_type,
                  "dataType": "pullrequest"}
        info, body = self.call("GET", f"{DEV_STATUS}/detail", params)
        self.stats.pages += 1
        pulls = [pr for entry in body.get("detail") or [] for pr in entry.get("pullRequests") or []]
        return Page(info, body, pulls, None)
