-- The schedule's last outcome, unless a later fire time has already been recorded.
UPDATE conveyor_schedules SET last_fire_at = :fire_at, last_outcome = :outcome, last_error = :error,
    last_job_id = :job_id
WHERE id = :id AND (last_fire_at IS NULL OR last_fire_at <= :fire_at)
