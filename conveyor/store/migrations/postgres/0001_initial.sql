-- Conveyor schema v1: jobs, workers, queues, API keys.
CREATE TABLE conveyor_jobs (
    id                 uuid PRIMARY KEY,
    task               text NOT NULL,
    queue              text NOT NULL,
    priority           integer NOT NULL DEFAULT 0,
    tenant             text NOT NULL DEFAULT 'default',
    args               jsonb NOT NULL DEFAULT '[]',
    kwargs             jsonb NOT NULL DEFAULT '{}',
    state              text NOT NULL,
    attempts           integer NOT NULL DEFAULT 0,
    max_attempts       integer NOT NULL DEFAULT 3,
    timeout            double precision,
    run_at             timestamptz NOT NULL DEFAULT now(),
    created_at         timestamptz NOT NULL DEFAULT now(),
    queued_at          timestamptz,
    started_at         timestamptz,
    finished_at        timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    worker_id          text,
    lease_token        uuid,
    deadline           timestamptz,
    progress_percent   double precision,
    progress_processed bigint NOT NULL DEFAULT 0,
    progress_failed    bigint NOT NULL DEFAULT 0,
    meta               jsonb NOT NULL DEFAULT '{}',
    result             jsonb,
    error              text,
    traceback          text,
    token              text NOT NULL,
    parent_id          uuid,
    idempotency_key    text,
    cancel_requested   boolean NOT NULL DEFAULT false,
    attempt_log        jsonb NOT NULL DEFAULT '[]',
    -- Pipelines (a later issue): which run, stage and step a job belongs to.
    pipeline_run_id    uuid,
    stage              text,
    step               text
);

-- The hot path: ready rows only, in claim order. Stays small however many finished rows exist.
CREATE INDEX conveyor_jobs_ready ON conveyor_jobs (queue, priority DESC, run_at, id) WHERE state = 'queued';
CREATE INDEX conveyor_jobs_scheduled ON conveyor_jobs (run_at) WHERE state = 'scheduled';
CREATE INDEX conveyor_jobs_running ON conveyor_jobs (worker_id) WHERE state = 'running';
CREATE INDEX conveyor_jobs_created ON conveyor_jobs (created_at DESC, id DESC);
CREATE INDEX conveyor_jobs_state_created ON conveyor_jobs (state, created_at DESC, id DESC);
CREATE INDEX conveyor_jobs_finished ON conveyor_jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX conveyor_jobs_token ON conveyor_jobs (token);
CREATE INDEX conveyor_jobs_parent ON conveyor_jobs (parent_id) WHERE parent_id IS NOT NULL;
CREATE UNIQUE INDEX conveyor_jobs_idempotency ON conveyor_jobs (tenant, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE conveyor_workers (
    id             text PRIMARY KEY,
    hostname       text NOT NULL,
    pid            integer NOT NULL,
    queues         text[] NOT NULL,
    concurrency    integer NOT NULL,
    version        text NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    last_heartbeat timestamptz NOT NULL DEFAULT now(),
    state          text NOT NULL DEFAULT 'running',
    desired_state  text,
    jobs_in_flight integer NOT NULL DEFAULT 0,
    processed      bigint NOT NULL DEFAULT 0,
    failed         bigint NOT NULL DEFAULT 0,
    stopped_at     timestamptz
);

CREATE TABLE conveyor_queues (
    name           text PRIMARY KEY,
    paused         boolean NOT NULL DEFAULT false,
    stranded_since timestamptz
);

CREATE TABLE conveyor_api_keys (
    id          text PRIMARY KEY,
    key_hash    text NOT NULL UNIQUE,
    tenant      text NOT NULL,
    role        text NOT NULL,
    name        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
