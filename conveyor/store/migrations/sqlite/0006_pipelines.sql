-- Pipelines (issue 13): runs, their per (run, step, stage) counters, and the raw data store.
-- Same tables and trigger as PostgreSQL (see there for why); times are unix seconds.
-- 0005 is left to the store restructuring (issue 12).
CREATE TABLE pipeline_runs (
    id           TEXT PRIMARY KEY,
    pipeline     TEXT NOT NULL,
    tenant       TEXT NOT NULL DEFAULT 'default',
    token        TEXT NOT NULL,
    params       TEXT NOT NULL DEFAULT '{}',
    queues       TEXT NOT NULL DEFAULT '{}',
    state        TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT '{}',
    error        TEXT,
    reprocess_of TEXT,
    from_stage   TEXT,
    created_at   REAL NOT NULL,
    started_at   REAL,
    finished_at  REAL,
    updated_at   REAL NOT NULL
);
CREATE INDEX pipeline_runs_active ON pipeline_runs (id) WHERE state IN ('READY', 'RUNNING');
CREATE INDEX pipeline_runs_token ON pipeline_runs (token);
CREATE INDEX pipeline_runs_pipeline ON pipeline_runs (pipeline, id DESC);
CREATE INDEX pipeline_runs_updated ON pipeline_runs (updated_at);

CREATE TABLE pipeline_stage_counts (
    run_id      TEXT NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
    step        TEXT NOT NULL,
    stage       TEXT NOT NULL,
    entered     INTEGER NOT NULL DEFAULT 0,
    outstanding INTEGER NOT NULL DEFAULT 0,
    done        INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    cancelled   INTEGER NOT NULL DEFAULT 0,
    started     INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0,
    started_at  REAL,
    finished_at REAL,
    last_error  TEXT,
    PRIMARY KEY (run_id, step, stage)
);

CREATE TABLE pipeline_count_deltas (
    run_id      TEXT NOT NULL,
    step        TEXT NOT NULL,
    stage       TEXT NOT NULL,
    entered     INTEGER NOT NULL DEFAULT 0,
    outstanding INTEGER NOT NULL DEFAULT 0,
    done        INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    cancelled   INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    at          REAL NOT NULL
);
CREATE INDEX pipeline_count_deltas_run ON pipeline_count_deltas (run_id);

CREATE INDEX conveyor_jobs_pipeline ON conveyor_jobs (pipeline_run_id, state, step, stage)
    WHERE pipeline_run_id IS NOT NULL;

CREATE TRIGGER pipeline_count_job AFTER UPDATE OF state ON conveyor_jobs
WHEN NEW.pipeline_run_id IS NOT NULL
 AND (OLD.state IN ('scheduled', 'queued', 'running')) <> (NEW.state IN ('scheduled', 'queued', 'running'))
BEGIN
    INSERT INTO pipeline_count_deltas (run_id, step, stage, outstanding, done, failed, cancelled, error, at)
    VALUES (NEW.pipeline_run_id, NEW.step, NEW.stage,
            CASE WHEN NEW.state IN ('scheduled', 'queued', 'running') THEN 1 ELSE -1 END,
            (NEW.state = 'completed') - (OLD.state = 'completed'),
            (NEW.state IN ('dead', 'failed')) - (OLD.state IN ('dead', 'failed')),
            (NEW.state = 'cancelled') - (OLD.state = 'cancelled'),
            CASE WHEN NEW.state IN ('dead', 'failed') THEN NEW.error END,
            (julianday('now') - 2440587.5) * 86400.0);
    UPDATE pipeline_runs SET updated_at = (julianday('now') - 2440587.5) * 86400.0
    WHERE id = NEW.pipeline_run_id;
END;

CREATE TABLE raw_extraction_data (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT,
    step        TEXT,
    tenant      TEXT NOT NULL DEFAULT 'default',
    token       TEXT NOT NULL,
    source      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    payload     BLOB NOT NULL,
    is_text     INTEGER NOT NULL,
    created_at  REAL NOT NULL
);
CREATE UNIQUE INDEX raw_extraction_data_request ON raw_extraction_data (token, source, fingerprint);
CREATE INDEX raw_extraction_data_run ON raw_extraction_data (run_id, step, id);
