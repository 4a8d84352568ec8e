-- Queues with ready jobs and no live running worker serving them.
SELECT DISTINCT j.queue FROM conveyor_jobs j
WHERE j.state = 'queued' AND NOT EXISTS (
    SELECT 1 FROM conveyor_workers w
    WHERE j.queue = ANY(w.queues) AND w.state = 'running'
      AND w.last_heartbeat > now() - make_interval(secs => %(liveness)s))
