-- Per-queue counts, oldest ready job, live workers, pause flag and completions of the last
-- minute / hour. Counts come from partial indexes on the few active and dead rows, completions from
-- the 10-second counter rows: never a COUNT(*) over the finished history.
WITH active AS (
    -- One branch per partial index (ready, scheduled, running, dead): each reads only its rows.
    SELECT queue, 'queued' AS state, count(*) AS n, min(queued_at) AS oldest FROM conveyor_jobs
    WHERE state = 'queued' AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s) GROUP BY queue
    UNION ALL
    SELECT queue, 'scheduled', count(*), NULL FROM conveyor_jobs
    WHERE state = 'scheduled' AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s) GROUP BY queue
    UNION ALL
    SELECT queue, 'running', count(*), NULL FROM conveyor_jobs
    WHERE state = 'running' AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s) GROUP BY queue
    UNION ALL
    SELECT queue, state, count(*), NULL FROM conveyor_jobs
    WHERE state IN ('dead', 'failed') AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
    GROUP BY queue, state
),
recent AS (
    -- Counter rows, not job rows: 10-second buckets that started in the last minute / hour.
    SELECT queue, coalesce(sum(n) FILTER (WHERE bucket > now() - interval '1 minute'), 0) AS last_minute,
           sum(n) AS last_hour
    FROM conveyor_completions
    WHERE bucket > now() - interval '1 hour' AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
    GROUP BY queue
),
live AS (
    SELECT q AS queue, count(*) FILTER (WHERE state = 'running') AS running
    FROM conveyor_workers, unnest(queues) AS q
    WHERE state IN ('running', 'paused') AND last_heartbeat > now() - make_interval(secs => %(liveness)s)
    GROUP BY q
),
names AS (
    SELECT queue FROM active UNION SELECT queue FROM recent UNION SELECT queue FROM live
    UNION SELECT name FROM conveyor_queues WHERE %(tenant)s::text IS NULL
)
SELECT names.queue,
       coalesce((SELECT json_object_agg(state, n) FROM active a WHERE a.queue = names.queue), '{}') AS counts,
       (SELECT min(oldest) FROM active a WHERE a.queue = names.queue) AS oldest,
       coalesce(live.running, 0) AS live_workers,
       coalesce(q.paused, false) AS paused,
       coalesce(recent.last_minute, 0) AS last_minute,
       coalesce(recent.last_hour, 0) AS last_hour,
       now() AS now
FROM names
LEFT JOIN live ON live.queue = names.queue
LEFT JOIN recent ON recent.queue = names.queue
LEFT JOIN conveyor_queues q ON q.name = names.queue
ORDER BY names.queue
