-- Insert one job; a job with an idempotency key already taken inserts nothing (key_holder then
-- finds the job holding it).
INSERT INTO conveyor_jobs (id, task, queue, priority, tenant, args, kwargs, state,
    max_attempts, timeout, run_at, created_at, queued_at, finished_at, updated_at,
    token, parent_id, idempotency_key, meta, error)
VALUES (:id, :task, :queue, :priority, :tenant, :args, :kwargs, :state, :max_attempts,
    :timeout, :run_at, :now, :queued_at, :finished_at, :now, :token, :parent_id,
    :idempotency_key, :meta, :error)
ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
