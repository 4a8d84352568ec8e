-- Lease up to limit ready jobs of the worker's queues (in its queue order, priority then FIFO;
-- paused queues skipped) and announce them. The lateral subquery walks the partial ready index
-- and stops at the limit.
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
    RETURNING c.id::text, c.task, c.queue, c.tenant, c.args, c.kwargs, c.attempts, c.max_attempts, c.timeout,
        c.lease_token::text, coalesce(c.token, replace(c.id::text, '-', '')), c.started_at,
        c.pipeline_run_id::text, c.step, c.stage
),
event AS (
    SELECT pg_notify('conveyor_events', json_build_object('state', 'running', 'ids', json_agg(id))::text)
    FROM (SELECT id, (row_number() OVER ()) / 100 AS chunk FROM claimed) numbered
    GROUP BY chunk
)
SELECT claimed.*, (SELECT count(*) FROM event) FROM claimed
