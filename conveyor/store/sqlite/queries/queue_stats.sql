-- Per-queue counts of the active and dead-letter rows and the oldest ready job (the state index
-- serves it, never the finished history).
SELECT queue, state, count(*) AS n, min(CASE WHEN state = 'queued' THEN queued_at END) AS oldest
FROM conveyor_jobs INDEXED BY conveyor_jobs_state_created
WHERE state IN ('scheduled', 'queued', 'running', 'dead', 'failed')
  AND (:tenant IS NULL OR tenant = :tenant)
GROUP BY queue, state
