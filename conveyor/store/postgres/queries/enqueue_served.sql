-- The hot path (policy refuse, no idempotency key): insert one job only if a live worker serves
-- its queue, and announce it. No row back means refused. A ready job is announced by its wake-up
-- alone ("queue id"); other states go to the events channel. Run through prepared.py.
WITH ins AS (
    INSERT INTO conveyor_jobs (id, task, queue, priority, tenant, args, kwargs, state, max_attempts,
        timeout, run_at, queued_at, finished_at, token, parent_id, idempotency_key, meta, error)
    SELECT %(id)s, %(task)s, %(queue)s, %(priority)s, %(tenant)s, %(args)s::jsonb, %(kwargs)s::jsonb, %(state)s,
        %(max_attempts)s, %(timeout)s, COALESCE(%(run_at)s, now()),
        CASE WHEN %(state)s = 'queued' THEN now() END, NULL, %(token)s, %(parent_id)s, NULL, %(meta)s::jsonb, NULL
    WHERE EXISTS (SELECT FROM conveyor_workers
                  WHERE %(queue)s = ANY(queues) AND state = 'running'
                    AND last_heartbeat > now() - make_interval(secs => %(liveness)s))
    RETURNING id, state, queue
)
SELECT state, CASE WHEN state = 'queued' THEN pg_notify('conveyor_wake', queue || ' ' || id)
                   ELSE pg_notify('conveyor_events', json_build_object('state', state, 'ids', json_build_array(id))::text) END
FROM ins
