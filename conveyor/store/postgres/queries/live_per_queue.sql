-- Running and paused live workers per queue, and the transaction's clock (bulk enqueue writes
-- its times from it).
SELECT q.name,
       count(*) FILTER (WHERE w.state = 'running') AS running,
       count(*) FILTER (WHERE w.state = 'paused') AS paused,
       now()
FROM unnest(%(queues)s::text[]) AS q(name)
LEFT JOIN conveyor_workers w
       ON q.name = ANY(w.queues) AND w.state IN ('running', 'paused')
      AND w.last_heartbeat > now() - make_interval(secs => %(liveness)s)
GROUP BY q.name
