-- The schedule's last outcome, unless a later fire time has already been recorded.
UPDATE conveyor_schedules SET last_fire_at = %(fire_at)s, last_outcome = %(outcome)s, last_error = %(error)s,
    last_job_id = %(job_id)s
WHERE id = %(id)s AND (last_fire_at IS NULL OR last_fire_at <= %(fire_at)s)
