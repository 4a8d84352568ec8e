-- Lease up to :limit ready jobs of one queue, priority then FIFO.
UPDATE conveyor_jobs
SET state = 'running', attempts = attempts + 1, started_at = :now, updated_at = :now,
    worker_id = :worker, lease_token = lower(hex(randomblob(16))),
    deadline = CASE WHEN timeout IS NULL THEN NULL ELSE :now + timeout END,
    cancel_requested = 0, finished_at = NULL
WHERE id IN (SELECT id FROM conveyor_jobs WHERE state = 'queued' AND queue = :queue
             ORDER BY priority DESC, run_at, id LIMIT :limit)
RETURNING id, task, queue, tenant, args, kwargs, attempts, max_attempts, timeout,
          lease_token, coalesce(token, replace(id, '-', '')) AS token, started_at, priority, run_at,
          pipeline_run_id, step, stage
