-- Dead-letter jobs matching the filter {where} go back to queued, one more attempt allowed.
UPDATE conveyor_jobs SET state = 'queued', queued_at = :now, run_at = :now, finished_at = NULL,
    max_attempts = max(max_attempts, attempts + 1), updated_at = :now
WHERE {where} RETURNING id, queue
