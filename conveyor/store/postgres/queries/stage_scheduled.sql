-- Scheduled jobs whose run_at has come become queued (up to limit); their queues are woken
-- and the jobs announced.
WITH due AS (
    SELECT id FROM conveyor_jobs WHERE state = 'scheduled' AND run_at <= now()
    ORDER BY run_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
),
staged AS (
    UPDATE conveyor_jobs j SET state = 'queued', queued_at = now(), updated_at = now()
    FROM due WHERE j.id = due.id RETURNING j.id, j.queue
),
wake AS (SELECT pg_notify('conveyor_wake', q.queue) FROM (SELECT DISTINCT queue FROM staged) q),
event AS (
    SELECT pg_notify('conveyor_events', json_build_object('state', 'queued', 'ids', json_agg(id))::text)
    FROM (SELECT id, (row_number() OVER ()) / 100 AS chunk FROM staged) numbered
    GROUP BY chunk
)
SELECT count(*) AS n, (SELECT count(*) FROM wake) + (SELECT count(*) FROM event) AS notified FROM staged
