-- Running and paused live workers that serve one queue (the live-worker check, and the paused
-- count for a refusal's message).
SELECT count(*) FILTER (WHERE state = 'running') AS running,
       count(*) FILTER (WHERE state = 'paused') AS paused
FROM conveyor_workers
WHERE %(queue)s = ANY(queues) AND state IN ('running', 'paused')
  AND last_heartbeat > now() - make_interval(secs => %(liveness)s)
