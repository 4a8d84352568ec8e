-- Cancel a run's outstanding jobs: waiting ones at once, running ones by request.
UPDATE conveyor_jobs SET
                   state = CASE WHEN state = 'running' THEN state ELSE 'cancelled' END,
                   cancel_requested = (state = 'running'),
                   finished_at = CASE WHEN state = 'running' THEN finished_at ELSE ? END, updated_at = ?
               WHERE pipeline_run_id = ? AND state IN ('scheduled', 'queued', 'running')
