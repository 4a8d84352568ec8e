-- Count a completion batch's stage jobs (the ids it changed; old state 'running'), one delta per
-- (run, step, stage) instead of one per job by the trigger, which skips this transaction's rows
-- (pipeline_batch_counted). As the trigger: a job handed back to 'queued' changes nothing, a retry
-- or park (-> 'scheduled') is an event without counts. Wakes the runs' watchers.
WITH counted AS (
    INSERT INTO pipeline_count_deltas (run_id, step, stage, outstanding, done, failed, cancelled, error)
    SELECT pipeline_run_id, step, stage,
           -count(*) FILTER (WHERE state NOT IN ('scheduled', 'queued', 'running')),
           count(*) FILTER (WHERE state = 'completed'), count(*) FILTER (WHERE state IN ('dead', 'failed')),
           count(*) FILTER (WHERE state = 'cancelled'), max(error) FILTER (WHERE state IN ('dead', 'failed'))
    FROM conveyor_jobs
    WHERE id = ANY(%s::uuid[]) AND pipeline_run_id IS NOT NULL AND state <> 'queued'
    GROUP BY pipeline_run_id, step, stage
    RETURNING run_id)
SELECT pg_notify('conveyor_runs', run_id::text) FROM (SELECT DISTINCT run_id FROM counted) r
