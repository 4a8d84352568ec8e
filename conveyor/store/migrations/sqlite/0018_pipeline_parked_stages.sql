-- Pipelines: a parked stage job shows its stage as `waiting` with `resume_at` (see the PostgreSQL
-- file for why): the counting trigger also appends a zero delta when a stage job goes from
-- running to scheduled and from scheduled back to queued.
DROP TRIGGER pipeline_count_job;
CREATE TRIGGER pipeline_count_job AFTER UPDATE OF state ON conveyor_jobs
WHEN NEW.pipeline_run_id IS NOT NULL
 AND ((OLD.state IN ('scheduled', 'queued', 'running')) <> (NEW.state IN ('scheduled', 'queued', 'running'))
      OR (OLD.state = 'scheduled') <> (NEW.state = 'scheduled'))
BEGIN
    INSERT INTO pipeline_count_deltas (run_id, step, stage, outstanding, done, failed, cancelled, error, at)
    VALUES (NEW.pipeline_run_id, NEW.step, NEW.stage,
            (NEW.state IN ('scheduled', 'queued', 'running')) - (OLD.state IN ('scheduled', 'queued', 'running')),
            (NEW.state = 'completed') - (OLD.state = 'completed'),
            (NEW.state IN ('dead', 'failed')) - (OLD.state IN ('dead', 'failed')),
            (NEW.state = 'cancelled') - (OLD.state = 'cancelled'),
            CASE WHEN NEW.state IN ('dead', 'failed') THEN NEW.error END,
            (julianday('now') - 2440587.5) * 86400.0);
END;
