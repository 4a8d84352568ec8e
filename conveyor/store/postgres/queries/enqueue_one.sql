-- One job without an idempotency key, policy accept or record_failed: the live-worker counts, the
-- insert (as failed with refusal when no worker runs and a refusal is given) and its
-- announcement in one round trip. No ON CONFLICT: nothing to conflict on, no speculative insert.
WITH live AS (
    SELECT count(*) FILTER (WHERE state = 'running') AS running,
           count(*) FILTER (WHERE state = 'paused') AS paused
    FROM conveyor_workers
    WHERE %(queue)s = ANY(queues) AND state IN ('running', 'paused')
      AND last_heartbeat > now() - make_interval(secs => %(liveness)s)
),
ins AS (
    INSERT INTO conveyor_jobs (id, task, queue, priority, tenant, args, kwargs, state, max_attempts,
        timeout, run_at, queued_at, finished_at, token, parent_id, idempotency_key, meta, error)
    SELECT %(id)s, %(task)s, %(queue)s, %(priority)s, %(tenant)s, %(args)s::jsonb, %(kwargs)s::jsonb,
        CASE WHEN live.running > 0 OR %(refusal)s::text IS NULL THEN %(state)s ELSE 'failed' END,
        %(max_attempts)s, %(timeout)s, COALESCE(%(run_at)s, now()),
        CASE WHEN %(state)s = 'queued' THEN now() END,
        CASE WHEN live.running > 0 OR %(refusal)s::text IS NULL THEN NULL ELSE now() END,
        %(token)s, %(parent_id)s, %(idempotency_key)s, %(meta)s::jsonb,
        CASE WHEN live.running > 0 THEN NULL ELSE %(refusal)s END
    FROM live
    WHERE live.running > 0 OR NOT %(refuse)s

    RETURNING id, state, queue
),
announced AS (
    SELECT CASE WHEN state = 'queued' THEN pg_notify('conveyor_wake', queue || ' ' || id)
                ELSE pg_notify('conveyor_events', json_build_object('state', state, 'ids', json_build_array(id))::text) END
    FROM ins
)
SELECT live.running, live.paused, ins.id, ins.state, (SELECT count(*) FROM announced) AS notified
FROM live LEFT JOIN ins ON true
