-- Schedules and ETL jobs (issue 14): the same tables as PostgreSQL (see there for why); times
-- are unix seconds, JSON is text.
CREATE TABLE conveyor_schedules (
    id               TEXT PRIMARY KEY,
    tenant           TEXT NOT NULL DEFAULT 'default',
    name             TEXT NOT NULL,
    target_kind      TEXT NOT NULL,                 -- 'task' or 'pipeline'
    target           TEXT NOT NULL,                 -- the task's or the pipeline's name
    cron             TEXT,                          -- a cron expression, or NULL for an interval
    interval_seconds REAL,
    timezone         TEXT NOT NULL DEFAULT 'UTC',
    args             TEXT NOT NULL DEFAULT '[]',
    kwargs           TEXT NOT NULL DEFAULT '{}',   -- a task's keyword arguments, or a pipeline run's params
    misfire          TEXT NOT NULL DEFAULT 'skip',  -- skip | once | all
    misfire_max      INTEGER NOT NULL DEFAULT 10,
    active           INTEGER NOT NULL DEFAULT 1,
    in_code          INTEGER NOT NULL DEFAULT 0,
    next_fire_at     REAL,
    last_fire_at     REAL,
    last_outcome     TEXT,
    last_error       TEXT,
    last_job_id      TEXT,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL,
    UNIQUE (tenant, name)
);
CREATE INDEX conveyor_schedules_due ON conveyor_schedules (next_fire_at) WHERE active = 1;

CREATE TABLE conveyor_schedule_fires (
    schedule_id   TEXT NOT NULL REFERENCES conveyor_schedules (id) ON DELETE CASCADE,
    fire_at       REAL NOT NULL,
    claimed_at    REAL NOT NULL,
    outcome       TEXT,                             -- NULL: claimed, not dispatched yet; queued | failed
    job_id        TEXT,                             -- the job, or the pipeline run
    error         TEXT,
    dispatched_at REAL,
    PRIMARY KEY (schedule_id, fire_at)
);
CREATE INDEX conveyor_schedule_fires_pending ON conveyor_schedule_fires (claimed_at) WHERE outcome IS NULL;

CREATE TABLE etl_jobs (
    id                   TEXT PRIMARY KEY,
    tenant               TEXT NOT NULL DEFAULT 'default',
    name                 TEXT NOT NULL,
    pipeline             TEXT NOT NULL,
    params               TEXT NOT NULL DEFAULT '{}',
    integration_id       TEXT,                      -- no foreign key: integrations come in 0011
    position             INTEGER NOT NULL DEFAULT 0,
    active               INTEGER NOT NULL DEFAULT 1,
    status               TEXT NOT NULL DEFAULT 'NOT_STARTED',  -- NOT_STARTED READY RUNNING FINISHED FAILED
    run_status           TEXT NOT NULL DEFAULT '{}',  -- the current run's steps x stages when it ended
    run_id               TEXT,
    token                TEXT,
    next_run             REAL,
    last_run_started_at  REAL,
    last_run_finished_at REAL,
    last_sync_date       REAL,
    error                TEXT,
    alert                TEXT,
    reset_deadline       REAL,
    reset_attempt        INTEGER NOT NULL DEFAULT 0,
    version              INTEGER NOT NULL DEFAULT 0,  -- every save checks and bumps it
    created_at           REAL NOT NULL,
    updated_at           REAL NOT NULL,
    UNIQUE (tenant, name)
);
CREATE INDEX etl_jobs_tenant_order ON etl_jobs (tenant, position, created_at);

CREATE TABLE etl_tenant_intervals (
    tenant        TEXT PRIMARY KEY,
    fast_interval REAL NOT NULL,
    full_interval REAL NOT NULL
);

-- The scheduler's leader: a lease renewed under the write lock (PostgreSQL uses a session
-- advisory lock and leaves this table empty).
CREATE TABLE conveyor_scheduler_lease (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at REAL NOT NULL
);
