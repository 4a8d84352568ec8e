-- Pipelines, finished (issue 13): per-run version numbers and retention (see the PostgreSQL file
-- for why). The counting trigger no longer touches pipeline_runs for every job: the run feed's
-- poller sees a run change through its unfolded deltas, and a fold touches the run once.
ALTER TABLE pipeline_runs ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pipeline_stage_counts ADD COLUMN events INTEGER NOT NULL DEFAULT 0;

CREATE INDEX pipeline_runs_finished ON pipeline_runs (finished_at) WHERE state IN ('FINISHED', 'FAILED', 'CANCELLED');
CREATE INDEX raw_extraction_data_unlinked ON raw_extraction_data (created_at) WHERE run_id IS NULL;

DROP TRIGGER pipeline_count_job;
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
END;

-- A pruned run takes its counters, unfolded deltas and raw rows with it (foreign keys are off
-- in SQLite, so the cascade is spelled out).
CREATE TRIGGER pipeline_run_pruned AFTER DELETE ON pipeline_runs
BEGIN
    DELETE FROM pipeline_stage_counts WHERE run_id = OLD.id;
    DELETE FROM pipeline_count_deltas WHERE run_id = OLD.id;
    DELETE FROM raw_extraction_data WHERE run_id = OLD.id;
END;
