-- Add a finished batch's per-minute task figures (conveyor/task_metrics.py MinuteFigures, in the
-- order of its values()) to the minute's row for the tenant, queue, task and worker.
INSERT INTO conveyor_task_minutes (minute, tenant, queue, task, worker_id, succeeded, failed, duration_sum, duration_max, pickup_n, pickup_sum, pickup_max, d00, d01, d02, d03, d04, d05, d06, d07, d08, d09, d10, d11, d12, d13, d14)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (minute, tenant, queue, task, worker_id) DO UPDATE SET
    succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed, duration_sum = duration_sum + excluded.duration_sum, pickup_n = pickup_n + excluded.pickup_n,
    pickup_sum = pickup_sum + excluded.pickup_sum, d00 = d00 + excluded.d00, d01 = d01 + excluded.d01, d02 = d02 + excluded.d02,
    d03 = d03 + excluded.d03, d04 = d04 + excluded.d04, d05 = d05 + excluded.d05, d06 = d06 + excluded.d06,
    d07 = d07 + excluded.d07, d08 = d08 + excluded.d08, d09 = d09 + excluded.d09, d10 = d10 + excluded.d10,
    d11 = d11 + excluded.d11, d12 = d12 + excluded.d12, d13 = d13 + excluded.d13, d14 = d14 + excluded.d14,
    duration_max = max(duration_max, excluded.duration_max), pickup_max = max(pickup_max, excluded.pickup_max)
