-- Add completions to their 10-second bucket's counter (per tenant, queue and worker).
INSERT INTO conveyor_completions (bucket, tenant, queue, worker_id, n) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (bucket, tenant, queue, worker_id) DO UPDATE SET n = n + excluded.n
