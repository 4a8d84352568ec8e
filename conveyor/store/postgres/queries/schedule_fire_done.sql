-- Record what a claimed fire did: the job (or run) it queued, or why it failed.
UPDATE conveyor_schedule_fires SET outcome = %(outcome)s, job_id = %(job_id)s, error = %(error)s, dispatched_at = %(now)s
WHERE schedule_id = %(id)s AND fire_at = %(fire_at)s
