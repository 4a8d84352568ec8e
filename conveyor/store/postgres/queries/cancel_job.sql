-- Cancel a job in one of the from states: at once when not running; a running job gets
-- cancel_requested and its worker acts. No row back: the job was in another state.
UPDATE conveyor_jobs SET
    state = CASE WHEN state = 'running' THEN state ELSE 'cancelled' END,
    cancel_requested = (state = 'running'),
    finished_at = CASE WHEN state = 'running' THEN finished_at ELSE now() END,
    updated_at = now()
WHERE id = %(id)s AND state = ANY(%(from)s) RETURNING state, queue
