-- Bulk enqueue of jobs that carry an idempotency key, one array per column; a key already taken
-- inserts nothing. Unprepared: a generic plan for unnest guesses 10 rows.
INSERT INTO conveyor_jobs (id, task, queue, priority, tenant, args, kwargs, state, max_attempts,
    timeout, run_at, queued_at, finished_at, token, parent_id, idempotency_key, meta, error)
SELECT * FROM unnest(%(id)s::uuid[], %(task)s::text[], %(queue)s::text[], %(priority)s::int[],
    %(tenant)s::text[], %(args)s::jsonb[], %(kwargs)s::jsonb[], %(state)s::text[], %(max_attempts)s::int[],
    %(timeout)s::float8[], %(run_at)s::timestamptz[], %(queued_at)s::timestamptz[],
    %(finished_at)s::timestamptz[], %(token)s::text[], %(parent_id)s::uuid[], %(idempotency_key)s::text[],
    %(meta)s::jsonb[], %(error)s::text[])
ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id, state, queue
