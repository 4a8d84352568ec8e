-- Queue a run's jobs in some states again (optionally of one step), attempts reset (one placeholder
-- per state, composed in Python).
UPDATE conveyor_jobs SET state = 'queued', queued_at = ?, run_at = ?, finished_at = NULL,
                    attempts = 0, cancel_requested = 0, updated_at = ?
                WHERE pipeline_run_id = ? AND (? IS NULL OR step = ?) AND state IN ({marks}) RETURNING queue
