-- Workers that are not stopped or dead, and those that stopped within :since seconds, with the
-- jobs each runs.
SELECT w.*, (SELECT json_group_array(j.id) FROM conveyor_jobs j
             WHERE j.state = 'running' AND j.worker_id = w.id) AS current_jobs
FROM conveyor_workers w
WHERE w.state NOT IN ('stopped', 'dead') OR coalesce(w.stopped_at, w.last_heartbeat) > :now - :since
ORDER BY w.started_at DESC
