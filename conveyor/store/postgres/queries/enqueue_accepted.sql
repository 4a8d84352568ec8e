-- One job under policy accept, no idempotency key: insert it whatever the workers, and announce
-- it, like enqueue_served without the live-worker check (accept never needs the counts). Run
-- through prepared.py, so accept is as fast as refuse.
WITH ins AS (
    INSERT INTO conveyor_jobs (id, task, queue, priority, tenant, args, kwargs, state, max_attempts,
        timeout, run_at, queued_at, finished_at, token, parent_id, idempotency_key, meta, error)
    VALUES (%(id)s, %(task)s, %(queue)s, %(priority)s, %(tenant)s, %(args)s::jsonb, %(kwargs)s::jsonb, %(state)s,
        %(max_attempts)s, %(timeout)s, COALESCE(%(run_at)s, now()),
        CASE WHEN %(state)s = 'queued' THEN now() END, NULL, %(token)s, %(parent_id)s, NULL, %(meta)s::jsonb, NULL)
    RETURNING id, state, queue
)
SELECT state, CASE WHEN state = 'queued' THEN pg_notify('conveyor_wake', queue || ' ' || id)
                   ELSE pg_notify('conveyor_events', json_build_object('state', state, 'ids', json_build_array(id))::text) END
FROM ins
