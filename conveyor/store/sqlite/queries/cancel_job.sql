-- Cancel a job in one of the :from states (a JSON array): at once when not running; a running job
-- gets cancel_requested and its worker acts. No row back: the job was in another state.
UPDATE conveyor_jobs SET
    cancel_requested = (state = 'running'),
    finished_at = CASE WHEN state = 'running' THEN finished_at ELSE :now END,
    state = CASE WHEN state = 'running' THEN state ELSE 'cancelled' END,
    updated_at = :now
WHERE id = :id AND state IN (SELECT value FROM json_each(:from)) RETURNING state, queue
