-- Conveyor schema v1 (SQLite): same tables as PostgreSQL. Times are unix seconds (REAL),
-- JSON is TEXT, UUIDs are TEXT.
CREATE TABLE conveyor_jobs (
    id                 TEXT PRIMARY KEY,
    task               TEXT NOT NULL,
    queue              TEXT NOT NULL,
    priority           INTEGER NOT NULL DEFAULT 0,
    tenant             TEXT NOT NULL DEFAULT 'default',
    args               TEXT NOT NULL DEFAULT '[]',
    kwargs             TEXT NOT NULL DEFAULT '{}',
    state              TEXT NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    max_attempts       INTEGER NOT NULL DEFAULT 3,
    timeout            REAL,
    run_at             REAL NOT NULL,
    created_at         REAL NOT NULL,
    queued_at          REAL,
    started_at         REAL,
    finished_at        REAL,
    updated_at         REAL NOT NULL,
    worker_id          TEXT,
    lease_token        TEXT,
    deadline           REAL,
    progress_percent   REAL,
    progress_processed INTEGER NOT NULL DEFAULT 0,
    progress_failed    INTEGER NOT NULL DEFAULT 0,
    meta               TEXT NOT NULL DEFAULT '{}',
    result             TEXT,
    error              TEXT,
    traceback          TEXT,
    token              TEXT NOT NULL,
    parent_id          TEXT,
    idempotency_key    TEXT,
    cancel_requested   INTEGER NOT NULL DEFAULT 0,
    attempt_log        TEXT NOT NULL DEFAULT '[]',
    pipeline_run_id    TEXT,
    stage              TEXT,
    step               TEXT
);

CREATE INDEX conveyor_jobs_ready ON conveyor_jobs (queue, priority DESC, run_at, id) WHERE state = 'queued';
CREATE INDEX conveyor_jobs_scheduled ON conveyor_jobs (run_at) WHERE state = 'scheduled';
CREATE INDEX conveyor_jobs_running ON conveyor_jobs (worker_id) WHERE state = 'running';
CREATE INDEX conveyor_jobs_created ON conveyor_jobs (created_at DESC, id DESC);
CREATE INDEX conveyor_jobs_state_created ON conveyor_jobs (state, created_at DESC, id DESC);
CREATE INDEX conveyor_jobs_finished ON conveyor_jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX conveyor_jobs_updated ON conveyor_jobs (updated_at);
CREATE INDEX conveyor_jobs_token ON conveyor_jobs (token);
CREATE UNIQUE INDEX conveyor_jobs_idempotency ON conveyor_jobs (tenant, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE conveyor_workers (
    id             TEXT PRIMARY KEY,
    hostname       TEXT NOT NULL,
    pid            INTEGER NOT NULL,
    queues         TEXT NOT NULL,
    concurrency    INTEGER NOT NULL,
    version        TEXT NOT NULL,
    started_at     REAL NOT NULL,
    last_heartbeat REAL NOT NULL,
    state          TEXT NOT NULL DEFAULT 'running',
    desired_state  TEXT,
    jobs_in_flight INTEGER NOT NULL DEFAULT 0,
    processed      INTEGER NOT NULL DEFAULT 0,
    failed         INTEGER NOT NULL DEFAULT 0,
    stopped_at     REAL
);

CREATE TABLE conveyor_queues (
    name           TEXT PRIMARY KEY,
    paused         INTEGER NOT NULL DEFAULT 0,
    stranded_since REAL
);

CREATE TABLE conveyor_api_keys (
    id          TEXT PRIMARY KEY,
    key_hash    TEXT NOT NULL UNIQUE,
    tenant      TEXT NOT NULL,
    role        TEXT NOT NULL,
    name        TEXT,
    created_at  REAL NOT NULL,
    revoked_at  REAL
);
