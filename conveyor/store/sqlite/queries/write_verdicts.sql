-- Write maintenance's verdicts on jobs taken from their workers (a JSON array of objects): the new
-- state, its error and attempt-log entry, and for a retry its delay in seconds.
UPDATE conveyor_jobs
SET state = v.state,
    queued_at = CASE WHEN v.state = 'queued' THEN :now ELSE queued_at END,
    run_at = CASE WHEN v.state = 'scheduled' THEN :now + v.delay ELSE run_at END,
    finished_at = CASE WHEN v.state = 'dead' THEN :now END,
    error = v.error, traceback = NULL,
    attempt_log = json_insert(attempt_log, '$[#]', json(v.entry)),
    lease_token = NULL, deadline = NULL, updated_at = :now
FROM (SELECT value ->> 'id' AS id, value ->> 'state' AS state, value ->> 'error' AS error,
             value -> 'entry' AS entry, value ->> 'delay' AS delay FROM json_each(:verdicts)) AS v
WHERE conveyor_jobs.id = v.id
RETURNING conveyor_jobs.id, conveyor_jobs.state, conveyor_jobs.queue
