-- Pipelines: a parked stage job (ParkJob: rescheduled for resume_at, its attempt given back) shows
-- its stage as `waiting` with `resume_at` (issue 13/15). Going from running to scheduled, and from
-- scheduled back to queued, changes no count, so the trigger did not fire and nobody heard of it:
-- it now also appends a zero delta for those moves. That bumps the run's live version and wakes
-- its watchers (NOTIFY here, the pending-deltas poll on SQLite), who read the parked jobs live.
CREATE OR REPLACE FUNCTION pipeline_count_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pipeline_count_deltas (run_id, step, stage, outstanding, done, failed, cancelled, error)
    VALUES (NEW.pipeline_run_id, NEW.step, NEW.stage,
            (NEW.state IN ('scheduled', 'queued', 'running'))::int - (OLD.state IN ('scheduled', 'queued', 'running'))::int,
            (NEW.state = 'completed')::int - (OLD.state = 'completed')::int,
            (NEW.state IN ('dead', 'failed'))::int - (OLD.state IN ('dead', 'failed'))::int,
            (NEW.state = 'cancelled')::int - (OLD.state = 'cancelled')::int,
            CASE WHEN NEW.state IN ('dead', 'failed') THEN NEW.error END);
    PERFORM pg_notify('conveyor_runs', NEW.pipeline_run_id::text);  -- one per run and transaction
    RETURN NULL;
END $$;

DROP TRIGGER pipeline_count_job ON conveyor_jobs;
CREATE TRIGGER pipeline_count_job AFTER UPDATE OF state ON conveyor_jobs FOR EACH ROW
    WHEN (NEW.pipeline_run_id IS NOT NULL
          AND ((OLD.state IN ('scheduled', 'queued', 'running')) <> (NEW.state IN ('scheduled', 'queued', 'running'))
               OR (OLD.state = 'scheduled') <> (NEW.state = 'scheduled')))
    EXECUTE FUNCTION pipeline_count_job();
