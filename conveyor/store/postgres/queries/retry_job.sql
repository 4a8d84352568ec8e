-- A finished job (one of the from states) goes back to queued, with one more attempt allowed
-- when its attempts are spent. No row back: the job was in another state.
UPDATE conveyor_jobs SET state = 'queued', queued_at = now(), run_at = now(),
    finished_at = NULL, max_attempts = greatest(max_attempts, attempts + 1),
    cancel_requested = false, updated_at = now()
WHERE id = %(id)s AND state = ANY(%(from)s)
RETURNING state, queue
