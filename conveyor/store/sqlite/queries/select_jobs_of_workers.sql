-- Running jobs of the given workers (a JSON array of ids, just declared dead); maintenance decides
-- what becomes of each (the write lock is held).
SELECT id, task, queue, attempts, max_attempts, timeout, worker_id, started_at FROM conveyor_jobs
WHERE state = 'running' AND worker_id IN (SELECT value FROM json_each(:workers))
