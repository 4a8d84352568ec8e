-- Running jobs past their deadline plus grace seconds (the worker did not report), locked for
-- this pass; maintenance decides what becomes of each. ran and pickup (seconds: start until now,
-- queued until start) count the ended attempt in the per-minute task figures.
SELECT id, task, queue, tenant, attempts, max_attempts, timeout, worker_id, started_at,
       greatest(0, extract(epoch FROM now() - started_at))::float8 AS ran,
       extract(epoch FROM started_at - queued_at)::float8 AS pickup
FROM conveyor_jobs
WHERE state = 'running' AND deadline < now() - make_interval(secs => %(grace)s)
FOR UPDATE SKIP LOCKED
