-- Running jobs whose worker is gone (dead, stopped, or no heartbeat inside the liveness timeout);
-- maintenance decides what becomes of each (the write lock is held).
SELECT id, task, queue, attempts, max_attempts, timeout, worker_id, started_at FROM conveyor_jobs j
WHERE state = 'running' AND NOT EXISTS (
    SELECT 1 FROM conveyor_workers w WHERE w.id = j.worker_id
      AND w.state NOT IN ('stopped', 'dead') AND w.last_heartbeat >= :now - :liveness)
