-- A job that starts its own chain stores token NULL on both engines (it reads as its id's hex),
-- as PostgreSQL does since its migration 0004: such jobs need no entry in the token index.
-- SQLite cannot drop NOT NULL from a column, so the table is rebuilt with the same columns,
-- indexes and deletion trigger; existing root tokens become NULL.
DROP TRIGGER conveyor_jobs_deleted;
CREATE TABLE conveyor_jobs_new (
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
    token              TEXT,
    parent_id          TEXT,
    idempotency_key    TEXT,
    cancel_requested   INTEGER NOT NULL DEFAULT 0,
    attempt_log        TEXT NOT NULL DEFAULT '[]',
    pipeline_run_id    TEXT,
    stage              TEXT,
    step               TEXT
);
INSERT INTO conveyor_jobs_new
SELECT id, task, queue, priority, tenant, args, kwargs, state, attempts, max_attempts, timeout, run_at,
       created_at, queued_at, started_at, finished_at, updated_at, worker_id, lease_token, deadline,
       progress_percent, progress_processed, progress_failed, meta, result, error, traceback,
       CASE WHEN token = replace(id, '-', '') THEN NULL ELSE token END,
       parent_id, idempotency_key, cancel_requested, attempt_log, pipeline_run_id, stage, step
FROM conveyor_jobs;
DROP TABLE conveyor_jobs;
ALTER TABLE conveyor_jobs_new RENAME TO conveyor_jobs;
CREATE INDEX conveyor_jobs_ready ON conveyor_jobs (queue, priority DESC, run_at, id) WHERE state = 'queued';
CREATE INDEX conveyor_jobs_scheduled ON conveyor_jobs (run_at) WHERE state = 'scheduled';
CREATE INDEX conveyor_jobs_running ON conveyor_jobs (worker_id) WHERE state = 'running';
CREATE INDEX conveyor_jobs_state_created ON conveyor_jobs (state, created_at DESC, id DESC);
CREATE INDEX conveyor_jobs_finished ON conveyor_jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX conveyor_jobs_updated ON conveyor_jobs (updated_at);
CREATE INDEX conveyor_jobs_token ON conveyor_jobs (token) WHERE token IS NOT NULL;
CREATE UNIQUE INDEX conveyor_jobs_idempotency ON conveyor_jobs (tenant, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE TRIGGER conveyor_jobs_deleted AFTER DELETE ON conveyor_jobs
BEGIN
    INSERT INTO conveyor_deletions (id, deleted_at) VALUES (old.id, (julianday('now') - 2440587.5) * 86400.0);
END;
