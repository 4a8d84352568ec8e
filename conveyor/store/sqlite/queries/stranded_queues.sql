-- Queues with ready jobs and no live running worker serving them.
SELECT DISTINCT j.queue FROM conveyor_jobs j
WHERE j.state = 'queued' AND NOT EXISTS (
    SELECT 1 FROM conveyor_workers w, json_each(w.queues) q
    WHERE q.value = j.queue AND w.state = 'running' AND w.last_heartbeat > :now - :liveness)
