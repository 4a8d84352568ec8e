-- Running jobs whose worker is gone (dead, stopped, or no heartbeat inside the liveness timeout);
-- maintenance decides what becomes of each (the write lock is held). ran and pickup (seconds:
-- start until now, queued until start) count the ended attempt in the per-minute task figures.
SELECT id, task, queue, tenant, attempts, max_attempts, timeout, worker_id, started_at,
       max(0, :now - started_at) AS ran, started_at - queued_at AS pickup
FROM conveyor_jobs j
WHERE state = 'running' AND NOT EXISTS (
    SELECT 1 FROM conveyor_workers w WHERE w.id = j.worker_id
      AND w.state NOT IN ('stopped', 'dead') AND w.last_heartbeat >= :now - :liveness)
