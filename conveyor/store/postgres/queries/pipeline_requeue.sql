-- Queue a run's jobs in some states again (optionally of one step), attempts reset.
UPDATE conveyor_jobs SET state = 'queued', queued_at = now(), run_at = now(), finished_at = NULL,
                   attempts = 0, cancel_requested = false, updated_at = now()
               WHERE pipeline_run_id = %s AND (%s::text IS NULL OR step = %s) AND state = ANY(%s::text[])
               RETURNING id, queue
