-- Write maintenance's verdicts on jobs taken from their workers (one array element per job): the
-- new state, its error and attempt-log entry, and for a retry its delay in seconds.
WITH v AS (
    SELECT * FROM unnest(%(id)s::uuid[], %(state)s::text[], %(error)s::text[], %(entry)s::jsonb[],
        %(delay)s::float8[]) AS v(id, state, error, entry, delay)
)
UPDATE conveyor_jobs j
SET state = v.state,
    queued_at = CASE WHEN v.state = 'queued' THEN now() ELSE j.queued_at END,
    run_at = CASE WHEN v.state = 'scheduled' THEN now() + make_interval(secs => v.delay) ELSE j.run_at END,
    finished_at = CASE WHEN v.state = 'dead' THEN now() END,
    error = v.error, traceback = NULL,
    attempt_log = j.attempt_log || jsonb_build_array(v.entry),
    lease_token = NULL, deadline = NULL, updated_at = now()
FROM v WHERE j.id = v.id
RETURNING j.id::text, j.state, j.queue
