-- Running jobs past their deadline plus :grace seconds (the worker did not report). ran and pickup
-- (seconds: start until now, queued until start) count the ended attempt in the per-minute task figures.
SELECT id, task, queue, tenant, attempts, max_attempts, timeout, worker_id, started_at,
       max(0, :now - started_at) AS ran, started_at - queued_at AS pickup
FROM conveyor_jobs
WHERE state = 'running' AND deadline < :now - :grace
