-- Workers that are not stopped or dead, and those that stopped within since seconds, with
-- heartbeat age, liveness and the jobs each runs.
SELECT w.*, extract(epoch FROM now() - w.last_heartbeat) AS age,
       (w.state NOT IN ('stopped', 'dead')
        AND w.last_heartbeat > now() - make_interval(secs => %(liveness)s)) AS alive,
       coalesce((SELECT array_agg(j.id::text) FROM conveyor_jobs j
                 WHERE j.state = 'running' AND j.worker_id = w.id), '{}') AS current_jobs
FROM conveyor_workers w
WHERE w.state NOT IN ('stopped', 'dead')
   OR coalesce(w.stopped_at, w.last_heartbeat) > now() - make_interval(secs => %(since)s)
ORDER BY w.started_at DESC
