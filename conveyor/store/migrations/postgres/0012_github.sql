-- The GitHub ETL's domain tables (issue #16): repositories, pull requests with their commits,
-- reviews, comments and review threads, the PR metrics of workflow-metrics.md, the links from
-- PRs to Jira work items, and the ETL's own bookkeeping (page cursors committed with their raw
-- page, per-job run metrics). Keys are (tenant, GitHub node id); declarations in
-- conveyor/etl/github/tables.py.
CREATE TABLE repositories (
    tenant           text NOT NULL,
    id               text NOT NULL,
    database_id      bigint,
    owner            text NOT NULL,
    name             text NOT NULL,
    name_with_owner  text NOT NULL,
    url              text,
    description      text,
    is_private       boolean NOT NULL DEFAULT false,
    is_archived      boolean NOT NULL DEFAULT false,
    is_fork          boolean NOT NULL DEFAULT false,
    default_branch   text,
    primary_language text,
    languages        jsonb NOT NULL DEFAULT '[]',
    created_at       timestamptz,
    updated_at       timestamptz,
    pushed_at        timestamptz,
    synced_at        timestamptz NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE UNIQUE INDEX repositories_name ON repositories (tenant, name_with_owner);

CREATE TABLE pull_requests (
    tenant                 text NOT NULL,
    id                     text NOT NULL,
    database_id            bigint,
    repository_id          text NOT NULL,
    repository             text NOT NULL,
    number                 integer NOT NULL,
    title                  text NOT NULL,
    body                   text,
    url                    text,
    state                  text NOT NULL,
    is_draft               boolean NOT NULL DEFAULT false,
    author                 text,
    merged_by              text,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    closed_at              timestamptz,
    merged_at              timestamptz,
    additions              integer,
    deletions              integer,
    changed_files          integer,
    base_branch            text,
    head_branch            text,
    review_decision        text,
    commit_count           integer NOT NULL DEFAULT 0,
    review_count           integer NOT NULL DEFAULT 0,
    comment_count          integer NOT NULL DEFAULT 0,
    review_thread_count    integer NOT NULL DEFAULT 0,
    first_commit_at        timestamptz,
    first_review_at        timestamptz,
    coding_time_seconds    bigint,
    pickup_time_seconds    bigint,
    review_time_seconds    bigint,
    open_to_merge_seconds  bigint,
    synced_at              timestamptz NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE UNIQUE INDEX pull_requests_number ON pull_requests (tenant, repository, number);
CREATE INDEX pull_requests_updated ON pull_requests (tenant, updated_at DESC);
CREATE INDEX pull_requests_merged ON pull_requests (tenant, merged_at);

CREATE TABLE pull_request_commits (
    tenant          text NOT NULL,
    id              text NOT NULL,
    pull_request_id text NOT NULL,
    oid             text NOT NULL,
    message         text,
    author_name     text,
    author_email    text,
    author_login    text,
    authored_at     timestamptz,
    committed_at    timestamptz,
    additions       integer,
    deletions       integer,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX pull_request_commits_pr ON pull_request_commits (tenant, pull_request_id);

CREATE TABLE pull_request_reviews (
    tenant          text NOT NULL,
    id              text NOT NULL,
    pull_request_id text NOT NULL,
    database_id     text,
    state           text NOT NULL,
    body            text,
    author          text,
    commit_oid      text,
    submitted_at    timestamptz,
    created_at      timestamptz,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX pull_request_reviews_pr ON pull_request_reviews (tenant, pull_request_id);

-- Issue comments (kind 'issue') and review-thread comments (kind 'review', with thread_id and path).
CREATE TABLE pull_request_comments (
    tenant          text NOT NULL,
    id              text NOT NULL,
    pull_request_id text NOT NULL,
    kind            text NOT NULL,
    thread_id       text,
    database_id     text,
    body            text,
    path            text,
    author          text,
    created_at      timestamptz,
    updated_at      timestamptz,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX pull_request_comments_pr ON pull_request_comments (tenant, pull_request_id);

CREATE TABLE pull_request_review_threads (
    tenant          text NOT NULL,
    id              text NOT NULL,
    pull_request_id text NOT NULL,
    path            text,
    line            integer,
    is_resolved     boolean NOT NULL DEFAULT false,
    is_outdated     boolean NOT NULL DEFAULT false,
    comment_count   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX pull_request_review_threads_pr ON pull_request_review_threads (tenant, pull_request_id);

-- One row per (work item key, PR, where the link was found): 'title' | 'branch' | 'body' from
-- the PR, 'dev_status' from Jira. Keyed by repository + number so a dev-status link can be kept
-- before the PR itself is synced; pull_request_id is filled when it is known.
CREATE TABLE work_items_prs_links (
    tenant          text NOT NULL,
    work_item_key   text NOT NULL,
    repository      text NOT NULL,
    number          integer NOT NULL,
    source          text NOT NULL,
    pull_request_id text,
    linked_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant, work_item_key, repository, number, source)
);
CREATE INDEX work_items_prs_links_pr ON work_items_prs_links (tenant, repository, number);

-- Step checkpoints: the cursor after the last page committed (in the transaction that stored the
-- page raw), per run token, step and scope (a repository, or '*' for the owner's repositories).
CREATE TABLE github_sync_cursors (
    token      text NOT NULL,
    step       text NOT NULL,
    scope      text NOT NULL,
    tenant     text NOT NULL,
    cursor     text,
    pages      integer NOT NULL DEFAULT 0,
    done       boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (token, step, scope)
);

-- What each stage attempt spent and saw: requests, pages, records, GraphQL points, parks. One
-- row per attempt (a parked attempt is given back, so `attempt` repeats: attempt_id tells them apart).
CREATE TABLE github_run_metrics (
    attempt_id       text NOT NULL,
    job_id           text NOT NULL,
    attempt          integer NOT NULL,
    run_id           text,
    tenant           text NOT NULL,
    step             text NOT NULL,
    stage            text NOT NULL,
    api_calls        integer NOT NULL DEFAULT 0,
    pages            integer NOT NULL DEFAULT 0,
    records          integer NOT NULL DEFAULT 0,
    points_spent     integer NOT NULL DEFAULT 0,
    points_remaining integer,
    rate_reset_at    timestamptz,
    parked_until     timestamptz,
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (attempt_id)
);
CREATE INDEX github_run_metrics_run ON github_run_metrics (run_id);
