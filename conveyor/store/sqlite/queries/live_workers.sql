-- Running and paused live workers that serve one queue (the live-worker check, and the paused
-- count for a refusal's message).
SELECT coalesce(sum(w.state = 'running'), 0) AS running, coalesce(sum(w.state = 'paused'), 0) AS paused
FROM conveyor_workers w
WHERE w.state IN ('running', 'paused') AND w.last_heartbeat > :now - :liveness
  AND EXISTS (SELECT 1 FROM json_each(w.queues) q WHERE q.value = :queue)
