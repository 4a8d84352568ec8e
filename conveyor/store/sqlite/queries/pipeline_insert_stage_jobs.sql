-- Write one pipeline stage job (run with executemany for a batch).
INSERT INTO conveyor_jobs (id, task, queue, priority, tenant, args, state, max_attempts, timeout, run_at, created_at, queued_at, updated_at, token, parent_id, meta, pipeline_run_id, step, stage, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
