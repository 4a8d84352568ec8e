-- Schedules and ETL jobs (issue 14): recurring schedules, one row per (schedule, fire time) so a
-- time fires once however many schedulers race, and the seed's etl_jobs table with its
-- orchestrator intervals per tenant. Every deadline is a column here, picked up by maintenance.
CREATE TABLE conveyor_schedules (
    id               text PRIMARY KEY,
    tenant           text NOT NULL DEFAULT 'default',
    name             text NOT NULL,
    target_kind      text NOT NULL,                 -- 'task' or 'pipeline'
    target           text NOT NULL,                 -- the task's or the pipeline's name
    cron             text,                          -- a cron expression, or NULL for an interval
    interval_seconds double precision,
    timezone         text NOT NULL DEFAULT 'UTC',
    args             jsonb NOT NULL DEFAULT '[]',
    kwargs           jsonb NOT NULL DEFAULT '{}',   -- a task's keyword arguments, or a pipeline run's params
    misfire          text NOT NULL DEFAULT 'skip',  -- skip | once | all
    misfire_max      integer NOT NULL DEFAULT 10,
    active           boolean NOT NULL DEFAULT true,
    in_code          boolean NOT NULL DEFAULT false,
    next_fire_at     timestamptz,
    last_fire_at     timestamptz,
    last_outcome     text,
    last_error       text,
    last_job_id      text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, name)
);
CREATE INDEX conveyor_schedules_due ON conveyor_schedules (next_fire_at) WHERE active;

CREATE TABLE conveyor_schedule_fires (
    schedule_id   text NOT NULL REFERENCES conveyor_schedules (id) ON DELETE CASCADE,
    fire_at       timestamptz NOT NULL,
    claimed_at    timestamptz NOT NULL,
    outcome       text,                             -- NULL: claimed, not dispatched yet; queued | failed
    job_id        text,                             -- the job, or the pipeline run
    error         text,
    dispatched_at timestamptz,
    PRIMARY KEY (schedule_id, fire_at)
);
CREATE INDEX conveyor_schedule_fires_pending ON conveyor_schedule_fires (claimed_at) WHERE outcome IS NULL;

CREATE TABLE etl_jobs (
    id                   text PRIMARY KEY,
    tenant               text NOT NULL DEFAULT 'default',
    name                 text NOT NULL,
    pipeline             text NOT NULL,
    params               jsonb NOT NULL DEFAULT '{}',
    integration_id       text,                      -- no foreign key: integrations come in 0011
    position             integer NOT NULL DEFAULT 0,
    active               boolean NOT NULL DEFAULT true,
    status               text NOT NULL DEFAULT 'NOT_STARTED',  -- NOT_STARTED READY RUNNING FINISHED FAILED
    run_status           jsonb NOT NULL DEFAULT '{}',  -- the current run's steps x stages when it ended
    run_id               text,
    token                text,
    next_run             timestamptz,
    last_run_started_at  timestamptz,
    last_run_finished_at timestamptz,
    last_sync_date       timestamptz,
    error                text,
    alert                text,
    reset_deadline       timestamptz,
    reset_attempt        integer NOT NULL DEFAULT 0,
    version              bigint NOT NULL DEFAULT 0,  -- every save checks and bumps it
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, name)
);
CREATE INDEX etl_jobs_tenant_order ON etl_jobs (tenant, position, created_at);

CREATE TABLE etl_tenant_intervals (
    tenant        text PRIMARY KEY,
    fast_interval double precision NOT NULL,
    full_interval double precision NOT NULL
);

-- The scheduler's leader on SQLite (PostgreSQL uses a session advisory lock instead).
CREATE TABLE conveyor_scheduler_lease (
    name       text PRIMARY KEY,
    owner      text NOT NULL,
    expires_at timestamptz NOT NULL
);
