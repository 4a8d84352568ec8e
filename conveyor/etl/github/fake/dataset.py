"""The fake GitHub's data: an organisation's repositories and pull requests, generated
deterministically from a seed and a size, plus edits made while the fake runs.

Objects are dicts keyed by GitHub's field names (graphql-core's default resolver reads them) with
`__typename`. Pull requests are made up front; their commits, reviews, comments and review threads
are made on first use from a per-PR seed, so a 5,000-PR dataset starts in well under a second.
Node ids name their object (`PR_` + base64 of repository index and number, ...), so `node(id:)`
finds any object without an index.
"""

from __future__ import annotations

import base64
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Node = dict[str, Any]

REPOSITORY_NAMES = ["api", "web", "billing", "mobile", "infra", "docs", "search", "auth", "payments", "data"]
LANGUAGES = [("Python", "#3572A5"), ("TypeScript", "#3178c6"), ("Go", "#00ADD8"), ("Rust", "#dea584"),
             ("Shell", "#89e051"), ("HTML", "#e34c26")]
JIRA_PROJECTS = ["EX", "OPS"]
WORDS = ["login", "cache", "retry", "billing", "export", "search", "flaky test", "timeout", "docs", "metrics"]


@dataclass(frozen=True)
class DatasetSpec:
    """What to generate. `huge_pull_requests` PRs (spread over the repositories, newest-first
    numbers) get `huge_commits` commits, `huge_reviews` reviews, `huge_comments` comments and
    `huge_threads` review threads, one of which has `huge_thread_comments` comments."""

    seed: int = 1
    owner: str = "acme"
    viewer: str = "conveyor-bot"
    repositories: int = 3
    pull_requests_per_repository: int = 30
    users: int = 8
    huge_pull_requests: int = 1
    huge_commits: int = 250
    huge_reviews: int = 120
    huge_comments: int = 300
    huge_threads: int = 130
    huge_thread_comments: int = 120
    end: datetime = datetime(2026, 1, 1, tzinfo=UTC)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(prefix: str, *parts: object) -> str:
    raw = ":".join(str(p) for p in parts).encode()
    return f"{prefix}_{base64.urlsafe_b64encode(raw).decode().rstrip('=')}"


def parse_node_id(value: str) -> tuple[str, list[str]] | None:
    prefix, sep, rest = value.partition("_")
    if not sep or not rest:
        return None
    try:
        raw = base64.urlsafe_b64decode(rest + "=" * (-len(rest) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return prefix, raw.split(":")


@dataclass
class Dataset:
    spec: DatasetSpec = field(default_factory=DatasetSpec)

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.users: dict[str, Node] = {}
        self.repositories: list[Node] = []
        self.pull_requests: dict[int, list[Node]] = {}  # repository index -> PRs by number - 1
        self._children: dict[tuple[int, int], dict[str, list[Node]]] = {}
        self._extra: dict[tuple[int, int], dict[str, list[Node]]] = {}
        self._make_actors()
        self._make_repositories()

    # ---- actors -------------------------------------------------------------------------------
    def _user(self, login: str, index: int, typename: str = "User") -> Node:
        prefix = {"User": "U", "Bot": "BOT", "Organization": "O"}[typename]
        user: Node = {"__typename": typename, "id": node_id(prefix, login), "login": login,
                      "databaseId": 1000 + index, "url": f"https://github.com/{login}",
                      "resourcePath": f"/{login}", "avatarUrl": f"https://avatars.githubusercontent.com/u/{1000 + index}",
                      "createdAt": iso(self.spec.end - timedelta(days=900 - index)),
                      "name": login.replace("-", " ").title(), "email": f"{login}@example.com"}
        return user

    def _make_actors(self) -> None:
        s = self.spec
        self.organization = self._user(s.owner, 0, "Organization")
        self.organization["repositories"] = None  # resolved
        self.users[s.viewer] = self._user(s.viewer, 1)
        for i in range(s.users):
            login = f"dev{i + 1:02d}"
            self.users[login] = self._user(login, i + 2)
        self.bot = self._user("dependabot", 99, "Bot")
        self.developers = [u for login, u in self.users.items() if login != s.viewer]

    def actor(self, login: str) -> Node | None:
        if login == self.spec.owner:
            return self.organization
        return self.users.get(login) or (self.bot if login == self.bot["login"] else None)

    # ---- repositories and pull requests -------------------------------------------------------
    def _make_repositories(self) -> None:
        s = self.spec
        huge_left = s.huge_pull_requests
        for r in range(s.repositories):
            rng = random.Random(f"{s.seed}/repo/{r}")
            base = REPOSITORY_NAMES[r % len(REPOSITORY_NAMES)]
            name = base if r < len(REPOSITORY_NAMES) else f"{base}-{r // len(REPOSITORY_NAMES)}"
            empty = s.repositories >= 4 and r == s.repositories - 1  # an empty repository: no branch, no PRs
            created = s.end - timedelta(days=700 - r)
            languages = [] if empty else rng.sample(LANGUAGES, rng.randint(1, 3))
            repo: Node = {
                "__typename": "Repository", "id": node_id("R", r), "databaseId": 5000 + r, "index": r,
                "name": name, "nameWithOwner": f"{s.owner}/{name}", "owner": self.organization,
                "url": f"https://github.com/{s.owner}/{name}", "description": f"The {name} service",
                "isPrivate": r % 2 == 0, "isArchived": r == 2, "isFork": r == 3,
                "createdAt": iso(created), "pushedAt": iso(s.end - timedelta(hours=r)),
                "updatedAt": iso(s.end - timedelta(hours=r)),
                "defaultBranchRef": None if empty else {"__typename": "Ref", "id": node_id("REF", r, "main"),
                                                         "name": "main" if r % 3 else "master", "prefix": "refs/heads/"},
                "languages": [({"__typename": "Language", "id": node_id("L", lang), "name": lang, "color": color},
                               rng.randint(1_000, 900_000)) for lang, color in languages],
            }
            self.repositories.append(repo)
            count = 0 if empty else s.pull_requests_per_repository
            prs = [self._pull_request(repo, n + 1, rng) for n in range(count)]
            # the newest PR of each repository is huge until the requested number is spread out
            per_repo = -(-huge_left // max(1, s.repositories - r))
            for pr in reversed(prs[-per_repo:] if per_repo and prs else []):
                pr["huge"] = True
                huge_left -= 1
            self.pull_requests[r] = prs

    def _pull_request(self, repo: Node, number: int, rng: random.Random) -> Node:
        s = self.spec
        span = timedelta(days=600)
        created = s.end - span + span * (number / (s.pull_requests_per_repository + 1)) + timedelta(minutes=rng.randint(0, 600))
        author = rng.choice(self.developers)
        roll = rng.random()
        state = "MERGED" if roll < 0.6 else "CLOSED" if roll < 0.75 else "OPEN"
        closed = created + timedelta(hours=rng.randint(2, 240)) if state != "OPEN" else None
        key = f"{rng.choice(JIRA_PROJECTS)}-{rng.randint(1, 400)}"
        word = rng.choice(WORDS)
        style = number % 4
        title = f"{key} {word}" if style == 0 else f"Fix {word}" if style == 1 else f"[{key}] Improve {word}" if style == 2 else f"Update {word}"
        head = f"feature/{key.lower()}-{word.replace(' ', '-')}" if style in (1, 3) else f"{author['login']}/{word.replace(' ', '-')}"
        body = f"Closes {key}.\n\nSee https://jira.example.com/browse/{key}" if style == 3 else f"Work on {word}."
        pr: Node = {
            "__typename": "PullRequest", "id": node_id("PR", repo["index"], number), "repo": repo["index"],
            "fullDatabaseId": str(900_000 + repo["index"] * 100_000 + number),
            "databaseId": 900_000 + repo["index"] * 100_000 + number, "number": number, "title": title, "body": body,
            "url": f"{repo['url']}/pull/{number}", "state": state, "isDraft": state == "OPEN" and number % 5 == 0,
            "closed": state != "OPEN", "merged": state == "MERGED",
            "createdAt": iso(created), "closedAt": iso(closed) if closed else None,
            "mergedAt": iso(closed) if closed and state == "MERGED" else None,
            "updatedAt": iso((closed or created) + timedelta(minutes=rng.randint(1, 300))),
            "additions": rng.randint(1, 2000), "deletions": rng.randint(0, 800), "changedFiles": rng.randint(1, 40),
            "baseRefName": (repo["defaultBranchRef"] or {}).get("name", "main"), "headRefName": head,
            "reviewDecision": "APPROVED" if state == "MERGED" else "REVIEW_REQUIRED",
            "author": author, "mergedBy": rng.choice(self.developers) if state == "MERGED" else None,
            "repository": repo, "huge": False,
        }
        return pr

    # ---- nested connections (made on first use) -------------------------------------------------
    def children(self, pr: Node, kind: str) -> list[Node]:
        """The PR's `commits`, `reviews`, `comments` or `reviewThreads` (PullRequestCommit,
        PullRequestReview, IssueComment, PullRequestReviewThread nodes), oldest first."""
        key = (pr["repo"], pr["number"])
        with self.lock:
            made = self._children.get(key)
            if made is None:
                made = self._children[key] = self._make_children(pr)
            return made[kind] + self._extra.get(key, {}).get(kind, [])

    def _make_children(self, pr: Node) -> dict[str, list[Node]]:
        s = self.spec
        rng = random.Random(f"{s.seed}/pr/{pr['repo']}/{pr['number']}")
        huge = pr["huge"]
        created = datetime.fromisoformat(pr["createdAt"])
        done = datetime.fromisoformat(pr["closedAt"] or pr["updatedAt"])
        counts = ((s.huge_commits, s.huge_reviews, s.huge_comments, s.huge_threads) if huge else
                  (rng.randint(1, 12), rng.randint(0, 4), rng.randint(0, 6), rng.randint(0, 3)))
        r, n = pr["repo"], pr["number"]
        commits = [self._commit(pr, i, created - timedelta(hours=counts[0] - i + rng.randint(0, 5)), rng)
                   for i in range(counts[0])]
        reviewers = [u for u in self.developers if u is not pr["author"]]
        reviews = []
        for i in range(counts[1]):
            at = created + (done - created) * ((i + 1) / (counts[1] + 1))
            state = "APPROVED" if i == counts[1] - 1 and pr["merged"] else rng.choice(["COMMENTED", "CHANGES_REQUESTED", "COMMENTED"])
            reviews.append(self._review(pr, i, rng.choice(reviewers) if i % 7 != 6 else pr["author"], state, at, commits))
        comments = [self._comment("IssueComment", "IC", pr, i, rng.choice(self.developers),
                                  created + (done - created) * ((i + 1) / (counts[2] + 1)))
                    for i in range(counts[2])]
        threads = []
        for t in range(counts[3]):
            size = s.huge_thread_comments if huge and t == 0 else rng.randint(1, 4)
            thread: Node = {"__typename": "PullRequestReviewThread", "id": node_id("PRRT", r, n, t),
                            "isResolved": t % 2 == 0, "isOutdated": t % 5 == 4, "line": 10 + t,
                            "path": f"src/module_{t % 9}.py", "pullRequest": pr}
            thread["comments"] = [self._comment("PullRequestReviewComment", "PRRC", pr, t * 1000 + c,
                                                rng.choice(self.developers),
                                                created + timedelta(minutes=5 * t + c + 1), path=thread["path"])
                                  for c in range(size)]
            threads.append(thread)
        return {"commits": commits, "reviews": reviews, "comments": comments, "reviewThreads": threads}

    def _commit(self, pr: Node, i: int, at: datetime, rng: random.Random) -> Node:
        r, n = pr["repo"], pr["number"]
        oid = random.Random(f"{self.spec.seed}/oid/{r}/{n}/{i}").getrandbits(160).to_bytes(20, "big").hex()
        author = pr["author"]
        who = {"__typename": "GitActor", "name": author["name"], "email": author["email"], "date": iso(at), "user": author}
        commit = {"__typename": "Commit", "id": node_id("C", r, n, i), "oid": oid, "abbreviatedOid": oid[:7],
                  "message": f"{pr['title']} (part {i + 1})\n\nDetails of change {i + 1}.",
                  "messageHeadline": f"{pr['title']} (part {i + 1})", "authoredDate": iso(at),
                  "committedDate": iso(at + timedelta(minutes=rng.randint(0, 30))),
                  "additions": rng.randint(1, 200), "deletions": rng.randint(0, 80), "author": who, "committer": who,
                  "url": f"{pr['repository']['url']}/commit/{oid}"}
        return {"__typename": "PullRequestCommit", "id": node_id("PURC", r, n, i), "commit": commit,
                "pullRequest": pr, "url": f"{pr['url']}/commits/{oid}"}

    def _review(self, pr: Node, i: int, author: Node, state: str, at: datetime, commits: list[Node]) -> Node:
        r, n = pr["repo"], pr["number"]
        database_id = 7_000_000 + r * 1_000_000 + n * 1000 + i
        return {"__typename": "PullRequestReview", "id": node_id("PRR", r, n, i), "databaseId": database_id,
                "fullDatabaseId": str(database_id), "state": state, "body": f"Review {i + 1}",
                "submittedAt": iso(at), "createdAt": iso(at), "updatedAt": iso(at), "author": author,
                "commit": commits[-1]["commit"] if commits else None, "pullRequest": pr,
                "url": f"{pr['url']}#pullrequestreview-{database_id}"}

    def _comment(self, typename: str, prefix: str, pr: Node, i: int, author: Node, at: datetime, path: str = "") -> Node:
        r, n = pr["repo"], pr["number"]
        database_id = (8_000_000 if prefix == "IC" else 9_000_000) + r * 1_000_000 + n * 10_000 + i
        comment = {"__typename": typename, "id": node_id(prefix, r, n, i), "databaseId": database_id,
                   "fullDatabaseId": str(database_id), "body": f"Comment {i + 1} on #{n}", "createdAt": iso(at),
                   "updatedAt": iso(at), "author": author, "pullRequest": pr,
                   "url": f"{pr['url']}#{'issuecomment' if prefix == 'IC' else 'discussion_r'}-{database_id}"}
        if path:
            comment["path"] = path
        return comment

    # ---- lookups --------------------------------------------------------------------------------
    def repository(self, owner: str, name: str) -> Node | None:
        if owner.lower() != self.spec.owner.lower():
            return None
        return next((r for r in self.repositories if r["name"].lower() == name.lower()), None)

    def pull_request(self, repo: Node, number: int) -> Node | None:
        prs = self.pull_requests.get(repo["index"], [])
        return prs[number - 1] if 1 <= number <= len(prs) else None

    def node(self, value: str) -> Node | None:
        """The object a node id names, or None."""
        parsed = parse_node_id(value)
        if parsed is None:
            return None
        prefix, parts = parsed
        try:
            numbers = [int(p) for p in parts] if prefix not in ("U", "O", "BOT", "L", "REF") else []
        except ValueError:
            return None
        if prefix in ("U", "O", "BOT"):
            return self.actor(parts[0])
        if prefix == "R" and len(numbers) == 1 and 0 <= numbers[0] < len(self.repositories):
            return self.repositories[numbers[0]]
        if len(numbers) < 2 or not 0 <= numbers[0] < len(self.repositories):
            return None
        pr = self.pull_request(self.repositories[numbers[0]], numbers[1])
        if pr is None or prefix == "PR":
            return pr if len(numbers) == 2 else None
        kind = {"PURC": "commits", "C": "commits", "PRR": "reviews", "IC": "comments", "PRRT": "reviewThreads"}.get(prefix)
        items = self.children(pr, kind) if kind else []
        found = next((x for x in items if x["id"] == value or x.get("commit", {}).get("id") == value), None)
        if found is not None and prefix == "C":
            return found["commit"]
        if prefix == "PRRC":
            return next((c for t in self.children(pr, "reviewThreads") for c in t["comments"] if c["id"] == value), None)
        return found

    # ---- edits while the fake runs ----------------------------------------------------------------
    def edit_pull_request(self, owner_and_name: str, number: int, *, at: datetime | None = None,
                          title: str | None = None, body: str | None = None, add_comments: int = 0,
                          add_commits: int = 0) -> Node:
        """Change a PR as a user would (merged and closed ones too): its `updatedAt` moves to `at`
        (default now), never backwards. Returns the PR."""
        owner, _, name = owner_and_name.partition("/")
        repo = self.repository(owner, name)
        pr = self.pull_request(repo, number) if repo else None
        if pr is None:
            raise KeyError(f"no pull request {owner_and_name}#{number} in the fake GitHub")
        with self.lock:
            previous = datetime.fromisoformat(pr["updatedAt"])
            when = max(at or datetime.now(UTC), previous + timedelta(seconds=1))
            if title is not None:
                pr["title"] = title
            if body is not None:
                pr["body"] = body
            extra = self._extra.setdefault((pr["repo"], number), {"commits": [], "comments": []})
            rng = random.Random(f"{self.spec.seed}/edit/{pr['repo']}/{number}/{when.timestamp()}")
            for _ in range(add_comments):
                i = 5000 + len(extra["comments"])
                extra["comments"].append(self._comment("IssueComment", "IC", pr, i, rng.choice(self.developers), when))
            for _ in range(add_commits):
                i = 5000 + len(extra["commits"])
                extra["commits"].append(self._commit(pr, i, when, rng))
            pr["updatedAt"] = iso(when)
        return pr
