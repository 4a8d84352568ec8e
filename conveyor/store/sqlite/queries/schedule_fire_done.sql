-- Record what a claimed fire did: the job (or run) it queued, or why it failed.
UPDATE conveyor_schedule_fires SET outcome = :outcome, job_id = :job_id, error = :error, dispatched_at = :now
WHERE schedule_id = :id AND fire_at = :fire_at
