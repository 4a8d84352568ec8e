-- Lease up to limit ready jobs of the worker's queues (in its queue order, priority then FIFO;
-- paused queues skipped) and announce them. The lateral subquery walks the partial ready index
-- and stops at the limit. The jobs come back as one JSON array of rows (ClaimedJob's field order):
-- one value to read and one json.loads, instead of 15 values per row through the driver.
WITH picked AS (
    SELECT j.id
    FROM unnest(%(queues)s::text[]) WITH ORDINALITY AS q(name, ord)
    CROSS JOIN LATERAL (
        SELECT id FROM conveyor_jobs
        WHERE state = 'queued' AND queue = q.name
        ORDER BY priority DESC, run_at, id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) j
    WHERE NOT EXISTS (SELECT 1 FROM conveyor_queues p WHERE p.name = q.name AND p.paused)
    LIMIT %(limit)s
),
claimed AS (
    UPDATE conveyor_jobs c
    SET state = 'running', attempts = c.attempts + 1, started_at = clock_timestamp(),
        updated_at = clock_timestamp(), worker_id = %(worker_id)s, lease_token = gen_random_uuid(),
        deadline = clock_timestamp() + make_interval(secs => c.timeout), cancel_requested = false,
        finished_at = NULL
    FROM picked WHERE c.id = picked.id
    RETURNING c.id, c.task, c.queue, c.tenant, c.args, c.kwargs, c.attempts, c.max_attempts, c.timeout,
        c.lease_token, coalesce(c.token, replace(c.id::text, '-', '')) AS token, c.started_at,
        c.pipeline_run_id, c.step, c.stage
),
event AS (
    SELECT pg_notify('conveyor_events', json_build_object('state', 'running', 'ids', json_agg(id))::text)
    FROM (SELECT id, (row_number() OVER ()) / 100 AS chunk FROM claimed) numbered
    GROUP BY chunk
)
SELECT json_agg(json_build_array(id, task, queue, tenant, args, kwargs, attempts, max_attempts, timeout,
    lease_token, token, started_at, pipeline_run_id, step, stage))::text AS jobs,
    (SELECT count(*) FROM event) AS notified
FROM claimed
