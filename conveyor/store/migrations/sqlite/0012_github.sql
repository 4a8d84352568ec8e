-- SQLite: instants are ISO text in UTC (UtcDateTime), JSON is text, booleans 0/1.
-- The GitHub ETL's domain tables (issue #16): repositories, pull requests with their commits,
-- reviews, comments and review threads, the PR metrics of workflow-metrics.md, the links from
-- PRs to Jira work items, and the ETL's own bookkeeping (page cursors committed with their raw
-- page, per-job run metrics). Keys are (tenant, GitHub node id); declarations in
-- conveyor/etl/github/tables.py.
CREATE TABLE repositories (
    tenant           TEXT NOT NULL,
    id               TEXT NOT NULL,
    database_id      INTEGER,
    owner            TEXT NOT NULL,
    name             TEXT NOT NULL,
    name_with_owner  TEXT NOT NULL,
    url              TEXT,
    description      TEXT,
    is_private       INTEGER NOT NULL DEFAULT 0,
    is_archived      INTEGER NOT NULL DEFAULT 0,
    is_fork          INTEGER NOT NULL DEFAULT 0,
    default_branch   TEXT,
    primary_language TEXT,
    languages        TEXT NOT NULL DEFAULT '[]',
    created_at       TEXT,
    updated_at       TEXT,
    pushed_at        TEXT,
    synced_at        TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE UNIQUE INDEX repositories_name ON repositories (tenant, name_with_owner);

CREATE TABLE pull_requests (
    tenant                 TEXT NOT NULL,
    id                     TEXT NOT NULL,
    database_id            INTEGER,
    repository_id          TEXT NOT NULL,
    repository             TEXT NOT NULL,
    number                 INTEGER NOT NULL,
    title                  TEXT NOT NULL,
    body                   TEXT,
    url                    TEXT,
    state                  TEXT NOT NULL,
    is_draft               INTEGER NOT NULL DEFAULT 0,
    author                 TEXT,
    merged_by              TEXT,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL,
    closed_at              TEXT,
    merged_at              TEXT,
    additions              INTEGER,
    deletions              INTEGER,
    changed_files          INTEGER,
    base_branch            TEXT,
    head_branch            TEXT,
    review_decision        TEXT,
    commit_count           INTEGER NOT NULL DEFAULT 0,
    review_count           INTEGER NOT NULL DEFAULT 0,
    comment_count          INTEGER NOT NULL DEFAULT 0,
    review_thread_count    INTEGER NOT NULL DEFAULT 0,
    first_commit_at        TEXT,
    first_review_at        TEXT,
    coding_time_seconds    INTEGER,
    pickup_time_seconds    INTEGER,
    review_time_seconds    INTEGER,
    open_to_merge_seconds  INTEGER,
    synced_at              TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE UNIQUE INDEX pull_requests_number ON pull_requests (tenant, repository, number);
CREATE INDEX pull_requests_updated ON pull_requests (tenant, updated_at);
CREATE INDEX pull_requests_merged ON pull_requests (tenant, merged_at);

CREATE TABLE pull_request_commits (
    tenant          TEXT NOT NULL,
    id              TEXT NOT NULL,
    pull_request_id TEXT NOT NULL,
    oid             TEXT NOT NULL,
    message         TEXT,
    author_name     TEXT,
    author_email    TEXT,
    author_login    TEXT,
    authored_at     TEXT,
    committed_at    TEXT,
    additions       INTEGER,
    deletions       INTEGER,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX pull_request_commits_pr ON pull_request_commits (tenant, pull_request_id);

CREATE TABLE pull_request_reviews (
    tenant          TEXT NOT NULL,
    id              TEXT NOT NULL,
    pull_request_id TEXT NOT NULL,
    database_id     TEXT,
    state           TEXT NOT NULL,
    body            TEXT,
    author          TEXT,
    commit_oid      TEXT,
    submitted_at    TEXT,
    created_at      TEXT,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX pull_request_reviews_pr ON pull_request_reviews (tenant, pull_request_id);

-- Issue comments (kind 'issue') and review-thread comments (kind 'review', with thread_id and path).
CREATE TABLE pull_request_comments (
    tenant          TEXT NOT NULL,
    id              TEXT NOT NULL,
    pull_request_id TEXT NOT NULL,
    kind            TEXT NOT NULL,
    thread_id       TEXT,
    database_id     TEXT,
    body            TEXT,
    path            TEXT,
    author          TEXT,
    created_at      TEXT,
    updated_at      TEXT,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX pull_request_comments_pr ON pull_request_comments (tenant, pull_request_id);

CREATE TABLE pull_request_review_threads (
    tenant          TEXT NOT NULL,
    id              TEXT NOT NULL,
    pull_request_id TEXT NOT NULL,
    path            TEXT,
    line            INTEGER,
    is_resolved     INTEGER NOT NULL DEFAULT 0,
    is_outdated     INTEGER NOT NULL DEFAULT 0,
    comment_count   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX pull_request_review_threads_pr ON pull_request_review_threads (tenant, pull_request_id);

-- One row per (work item key, PR, where the link was found): 'title' | 'branch' | 'body' from
-- the PR, 'dev_status' from Jira. Keyed by repository + number so a dev-status link can be kept
-- before the PR itself is synced; pull_request_id is filled when it is known.
CREATE TABLE work_items_prs_links (
    tenant          TEXT NOT NULL,
    work_item_key   TEXT NOT NULL,
    repository      TEXT NOT NULL,
    number          INTEGER NOT NULL,
    source          TEXT NOT NULL,
    pull_request_id TEXT,
    linked_at       TEXT NOT NULL,
    PRIMARY KEY (tenant, work_item_key, repository, number, source)
);
CREATE INDEX work_items_prs_links_pr ON work_items_prs_links (tenant, repository, number);

-- Step checkpoints: the cursor after the last page committed (in the transaction that stored the
-- page raw), per run token, step and scope (a repository, or '*' for the owner's repositories).
CREATE TABLE github_sync_cursors (
    token      TEXT NOT NULL,
    step       TEXT NOT NULL,
    scope      TEXT NOT NULL,
    tenant     TEXT NOT NULL,
    cursor     TEXT,
    pages      INTEGER NOT NULL DEFAULT 0,
    done       INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (token, step, scope)
);

-- What each stage attempt spent and saw: requests, pages, records, GraphQL points, parks. One
-- row per attempt (a parked attempt is given back, so `attempt` repeats: attempt_id tells them apart).
CREATE TABLE github_run_metrics (
    attempt_id       TEXT NOT NULL,
    job_id           TEXT NOT NULL,
    attempt          INTEGER NOT NULL,
    run_id           TEXT,
    tenant           TEXT NOT NULL,
    step             TEXT NOT NULL,
    stage            TEXT NOT NULL,
    api_calls        INTEGER NOT NULL DEFAULT 0,
    pages            INTEGER NOT NULL DEFAULT 0,
    records          INTEGER NOT NULL DEFAULT 0,
    points_spent     INTEGER NOT NULL DEFAULT 0,
    points_remaining INTEGER,
    rate_reset_at    TEXT,
    parked_until     TEXT,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (attempt_id)
);
CREATE INDEX github_run_metrics_run ON github_run_metrics (run_id);
