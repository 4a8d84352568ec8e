-- Pipelines (issue 13): runs, their per (run, step, stage) counters, and the raw data store.
-- 0005 is left to the store restructuring (issue 12).
CREATE TABLE pipeline_runs (
    id           uuid PRIMARY KEY,
    pipeline     text NOT NULL,
    tenant       text NOT NULL DEFAULT 'default',
    token        text NOT NULL,
    params       jsonb NOT NULL DEFAULT '{}',
    queues       jsonb NOT NULL DEFAULT '{}',   -- 'step/stage' -> the queue filled for this run
    state        text NOT NULL,                 -- READY, RUNNING, FINISHED, FAILED, CANCELLED
    status       jsonb NOT NULL DEFAULT '{}',   -- the last status JSON the run's rules computed
    error        text,
    reprocess_of uuid,
    from_stage   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pipeline_runs_active ON pipeline_runs (id) WHERE state IN ('READY', 'RUNNING');
CREATE INDEX pipeline_runs_token ON pipeline_runs (token);
CREATE INDEX pipeline_runs_pipeline ON pipeline_runs (pipeline, id DESC);

-- Compacted counters, one row per (run, step, stage).
CREATE TABLE pipeline_stage_counts (
    run_id      uuid NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
    step        text NOT NULL,
    stage       text NOT NULL,
    entered     bigint NOT NULL DEFAULT 0,
    outstanding bigint NOT NULL DEFAULT 0,
    done        bigint NOT NULL DEFAULT 0,
    failed      bigint NOT NULL DEFAULT 0,
    cancelled   bigint NOT NULL DEFAULT 0,
    started     boolean NOT NULL DEFAULT false,
    skipped     boolean NOT NULL DEFAULT false,
    started_at  timestamptz,
    finished_at timestamptz,
    last_error  text,
    PRIMARY KEY (run_id, step, stage)
);

-- Counter changes, appended in the transaction that changes a stage job's state and folded into
-- pipeline_stage_counts by the run's advancer. Append-only so that workers finishing jobs of one
-- stage at the same time never wait on (or deadlock over) one counter row.
CREATE TABLE pipeline_count_deltas (
    run_id      uuid NOT NULL,
    step        text NOT NULL,
    stage       text NOT NULL,
    entered     integer NOT NULL DEFAULT 0,
    outstanding integer NOT NULL DEFAULT 0,
    done        integer NOT NULL DEFAULT 0,
    failed      integer NOT NULL DEFAULT 0,
    cancelled   integer NOT NULL DEFAULT 0,
    error       text,
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX pipeline_count_deltas_run ON pipeline_count_deltas (run_id);

-- A run's jobs: cancel, retry a step, running counts, jobs by run.
CREATE INDEX conveyor_jobs_pipeline ON conveyor_jobs (pipeline_run_id, state, step, stage)
    WHERE pipeline_run_id IS NOT NULL;

-- Every terminal change of a stage job (completed, dead, failed, cancelled, and back again by a
-- retry) is counted by this trigger, whichever path makes it: the worker's completion batch,
-- orphan rescue, the database timeout, cancel, requeue. Its WHEN clause is evaluated for other
-- jobs too, but no function runs for them. Enqueues of stage jobs are counted by the code that
-- writes them, one delta per batch.
CREATE FUNCTION pipeline_count_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pipeline_count_deltas (run_id, step, stage, outstanding, done, failed, cancelled, error)
    VALUES (NEW.pipeline_run_id, NEW.step, NEW.stage,
            CASE WHEN NEW.state IN ('scheduled', 'queued', 'running') THEN 1 ELSE -1 END,
            (NEW.state = 'completed')::int - (OLD.state = 'completed')::int,
            (NEW.state IN ('dead', 'failed'))::int - (OLD.state IN ('dead', 'failed'))::int,
            (NEW.state = 'cancelled')::int - (OLD.state = 'cancelled')::int,
            CASE WHEN NEW.state IN ('dead', 'failed') THEN NEW.error END);
    PERFORM pg_notify('conveyor_runs', NEW.pipeline_run_id::text);  -- one per run and transaction
    RETURN NULL;
END $$;

CREATE TRIGGER pipeline_count_job AFTER UPDATE OF state ON conveyor_jobs FOR EACH ROW
    WHEN (NEW.pipeline_run_id IS NOT NULL
          AND (OLD.state IN ('scheduled', 'queued', 'running')) <> (NEW.state IN ('scheduled', 'queued', 'running')))
    EXECUTE FUNCTION pipeline_count_job();

-- Raw data store: API responses kept exactly as received, found again by run, step and request.
CREATE TABLE raw_extraction_data (
    id          bigserial PRIMARY KEY,
    run_id      uuid,
    step        text,
    tenant      text NOT NULL DEFAULT 'default',
    token       text NOT NULL,
    source      text NOT NULL,
    fingerprint text NOT NULL,
    payload     bytea NOT NULL,
    is_text     boolean NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX raw_extraction_data_request ON raw_extraction_data (token, source, fingerprint);
CREATE INDEX raw_extraction_data_run ON raw_extraction_data (run_id, step, id);
