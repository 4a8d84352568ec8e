-- Record how attempts ended (one element of the JSON array %(outcomes)s per outcome: [id, lease,
-- state, result as JSON text, error, traceback, retry delay, attempt-log entry]); only rows still
-- leased with that token change. Counts completions per 10-second bucket and per-minute task figures (every attempt
-- that ran: completed, or failed towards a retry or dead; conveyor/task_metrics.py: d00..d14 count
-- durations up to each of its DURATION_BOUNDS), wakes the queues of handed-back jobs and announces
-- the changes (100 ids per payload). A parked attempt (ParkJob) and a handed-back job get their
-- attempt back. Answers the ids of the changed jobs as one JSON array (or NULL). Never prepared:
-- see store finish_jobs.
WITH v AS (
    SELECT (e->>0)::uuid AS id, (e->>1)::uuid AS lease, e->>2 AS state, (e->>3)::jsonb AS result,
        e->>4 AS error, e->>5 AS traceback, (e->>6)::float8 AS delay, nullif(e->7, 'null'::jsonb) AS entry
    FROM jsonb_array_elements(%(outcomes)s::jsonb) AS e
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
        attempts = CASE WHEN v.state = 'queued' OR v.entry->>'outcome' = 'parked' THEN j.attempts - 1
                        ELSE j.attempts END,
        attempt_log = CASE WHEN v.entry IS NULL THEN j.attempt_log
                           ELSE j.attempt_log || jsonb_build_array(v.entry) END,
        lease_token = NULL, deadline = NULL, cancel_requested = false, updated_at = clock_timestamp()
    FROM v
    WHERE j.id = v.id AND j.lease_token = v.lease AND j.state = 'running'
    RETURNING j.id, j.state, j.queue, j.tenant, j.worker_id, j.task, j.started_at, j.queued_at, j.updated_at
),
task_minutes AS (
    INSERT INTO conveyor_task_minutes AS m (minute, tenant, queue, task, worker_id,
        succeeded, failed, duration_sum, duration_max, pickup_n, pickup_sum, pickup_max,
        d00, d01, d02, d03, d04, d05, d06, d07, d08, d09, d10, d11, d12, d13, d14)
    SELECT date_trunc('minute', now()), tenant, queue, task, coalesce(worker_id, ''),
        count(*) FILTER (WHERE state = 'completed'), count(*) FILTER (WHERE state <> 'completed'),
        sum(dur), max(dur), count(pick), coalesce(sum(pick), 0), coalesce(max(pick), 0),
        count(*) FILTER (WHERE b = 0), count(*) FILTER (WHERE b = 1), count(*) FILTER (WHERE b = 2),
        count(*) FILTER (WHERE b = 3), count(*) FILTER (WHERE b = 4), count(*) FILTER (WHERE b = 5),
        count(*) FILTER (WHERE b = 6), count(*) FILTER (WHERE b = 7), count(*) FILTER (WHERE b = 8),
        count(*) FILTER (WHERE b = 9), count(*) FILTER (WHERE b = 10), count(*) FILTER (WHERE b = 11),
        count(*) FILTER (WHERE b = 12), count(*) FILTER (WHERE b = 13), count(*) FILTER (WHERE b = 14)
    FROM (SELECT *, greatest(0, extract(epoch FROM updated_at - started_at))::float8 AS dur,
                 greatest(0, extract(epoch FROM started_at - queued_at))::float8 AS pick,
                 width_bucket(greatest(0, extract(epoch FROM updated_at - started_at))::float8,
                              '{0.005,0.01,0.025,0.05,0.1,0.25,0.5,1.0,2.5,5.0,10.0,30.0,60.0,300.0}'::float8[]) AS b
          FROM done WHERE state IN ('completed', 'scheduled', 'dead') AND started_at IS NOT NULL) d
    GROUP BY tenant, queue, task, coalesce(worker_id, '')
    ON CONFLICT (minute, tenant, queue, task, worker_id) DO UPDATE SET
        succeeded = m.succeeded + excluded.succeeded, failed = m.failed + excluded.failed, duration_sum = m.duration_sum + excluded.duration_sum,
        pickup_n = m.pickup_n + excluded.pickup_n, pickup_sum = m.pickup_sum + excluded.pickup_sum, d00 = m.d00 + excluded.d00,
        d01 = m.d01 + excluded.d01, d02 = m.d02 + excluded.d02, d03 = m.d03 + excluded.d03,
        d04 = m.d04 + excluded.d04, d05 = m.d05 + excluded.d05, d06 = m.d06 + excluded.d06,
        d07 = m.d07 + excluded.d07, d08 = m.d08 + excluded.d08, d09 = m.d09 + excluded.d09,
        d10 = m.d10 + excluded.d10, d11 = m.d11 + excluded.d11, d12 = m.d12 + excluded.d12,
        d13 = m.d13 + excluded.d13, d14 = m.d14 + excluded.d14,
        duration_max = greatest(m.duration_max, excluded.duration_max),
        pickup_max = greatest(m.pickup_max, excluded.pickup_max)
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
SELECT (SELECT json_agg(id) FROM done)::text AS ids, (SELECT count(*) FROM wake) + (SELECT count(*) FROM event) AS notified
