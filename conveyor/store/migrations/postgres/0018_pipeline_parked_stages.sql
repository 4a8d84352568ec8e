-- Pipelines: a parked stage job (ParkJob: rescheduled for resume_at, its attempt given back) shows
-- its stage as `waiting` with `resume_at` (issue 13/15). Going from running to scheduled, and from
-- scheduled back to queued, changes no count, so the trigger did not fire and nobody heard of it:
-- it now also appends a zero delta for those moves. That bumps the run's live version and wakes
-- its watchers (NOTIFY here, the pending-deltas poll on SQLite), who read the parked jobs live.
--
-- The worker's completion batches count their stage jobs themselves, one delta per (run, step,
-- stage) and batch (pipeline_count_finished.sql): a delta row per job, inserted by this trigger,
-- was the largest cost a stage job had over a plain one on the server. Such a transaction says
-- so in the local setting conveyor.counted, and the trigger skips its rows (the function is not
-- even called). Every other path (rescue, timeout, cancel, retry, requeue) is counted here.
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
               OR (OLD.state = 'scheduled') <> (NEW.state = 'scheduled'))
          AND current_setting('conveyor.counted', true) IS DISTINCT FROM 'batch')
    EXECUTE FUNCTION pipeline_count_job();
