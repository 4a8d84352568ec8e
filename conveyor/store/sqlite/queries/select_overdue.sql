-- Running jobs past their deadline plus :grace seconds (the worker did not report).
SELECT id, task, queue, attempts, max_attempts, timeout, worker_id, started_at FROM conveyor_jobs
WHERE state = 'running' AND deadline < :now - :grace
