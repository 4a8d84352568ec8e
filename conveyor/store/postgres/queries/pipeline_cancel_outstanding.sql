-- Cancel a run's outstanding jobs: waiting ones at once, running ones by request.
UPDATE conveyor_jobs SET
                   state = CASE WHEN state = 'running' THEN state ELSE 'cancelled' END,
                   cancel_requested = (state = 'running'),
                   finished_at = CASE WHEN state = 'running' THEN finished_at ELSE now() END, updated_at = now()
               WHERE pipeline_run_id = %s AND state IN ('scheduled', 'queued', 'running') RETURNING id, state
