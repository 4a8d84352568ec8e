-- Record how attempts ended (one array element per outcome); only rows still leased with that
-- token change. Counts completions per 10-second bucket, wakes the queues of handed-back jobs and
-- announces the changes (100 ids per payload). Never prepared: see store finish_jobs.
WITH v AS (
    SELECT * FROM unnest(%(id)s::uuid[], %(lease)s::uuid[], %(state)s::text[], %(result)s::jsonb[],
        %(error)s::text[], %(traceback)s::text[], %(delay)s::float8[], %(entry)s::jsonb[])
        AS v(id, lease, state, result, error, traceback, delay, entry)
),
done AS (
    UPDATE conveyor_jobs j
    SET state = v.state,
        result = v.result,
        error = v.error,
        traceback = v.traceback,
        finished_at = CASE WHEN v.state IN ('completed', 'dead', 'cancelled') THEN clock_timestamp() END,
        run_at = CASE WHEN v.state = 'scheduled' THEN clock_timestamp() + make_interval(secs => v.delay)
                      ELSE j.run_at END,
        queued_at = CASE WHEN v.state = 'queued' THEN clock_timestamp() ELSE j.queued_at END,
        attempts = CASE WHEN v.state = 'queued' THEN j.attempts - 1 ELSE j.attempts END,
        attempt_log = CASE WHEN v.entry IS NULL THEN j.attempt_log
                           ELSE j.attempt_log || jsonb_build_array(v.entry) END,
        lease_token = NULL, deadline = NULL, cancel_requested = false, updated_at = clock_timestamp()
    FROM v
    WHERE j.id = v.id AND j.lease_token = v.lease AND j.state = 'running'
    RETURNING j.id, j.state, j.queue, j.tenant, j.worker_id
),
counted AS (
    INSERT INTO conveyor_completions AS c (bucket, tenant, queue, worker_id, n)
    SELECT to_timestamp(floor(extract(epoch FROM now()) / 10) * 10), tenant, queue, coalesce(worker_id, ''), count(*)
    FROM done WHERE state = 'completed' GROUP BY tenant, queue, coalesce(worker_id, '')
    ON CONFLICT (bucket, tenant, queue, worker_id) DO UPDATE SET n = c.n + excluded.n
),
wake AS (SELECT pg_notify('conveyor_wake', q.queue) FROM (SELECT DISTINCT queue FROM done WHERE state = 'queued') q),
event AS (
    SELECT pg_notify('conveyor_events', json_build_object('state', 'finished', 'ids', json_agg(id))::text)
    FROM (SELECT id, (row_number() OVER ()) / 100 AS chunk FROM done) numbered
    GROUP BY chunk
)
SELECT done.id, (SELECT count(*) FROM wake) + (SELECT count(*) FROM event) AS notified FROM done
