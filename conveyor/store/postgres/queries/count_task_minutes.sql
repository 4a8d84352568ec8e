-- Add per-minute task figures (conveyor/task_metrics.py MinuteFigures: the attempts maintenance
-- ended) to the current minute's row for the tenant, queue, task and worker. The completion batch
-- counts its own attempts inside finish_jobs.
INSERT INTO conveyor_task_minutes AS m (minute, tenant, queue, task, worker_id, succeeded, failed, duration_sum, duration_max, pickup_n, pickup_sum, pickup_max, d00, d01, d02, d03, d04, d05, d06, d07, d08, d09, d10, d11, d12, d13, d14)
VALUES (date_trunc('minute', now()), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (minute, tenant, queue, task, worker_id) DO UPDATE SET
    succeeded = m.succeeded + excluded.succeeded, failed = m.failed + excluded.failed,
    duration_sum = m.duration_sum + excluded.duration_sum, pickup_n = m.pickup_n + excluded.pickup_n,
    pickup_sum = m.pickup_sum + excluded.pickup_sum, d00 = m.d00 + excluded.d00,
    d01 = m.d01 + excluded.d01, d02 = m.d02 + excluded.d02, d03 = m.d03 + excluded.d03,
    d04 = m.d04 + excluded.d04, d05 = m.d05 + excluded.d05, d06 = m.d06 + excluded.d06,
    d07 = m.d07 + excluded.d07, d08 = m.d08 + excluded.d08, d09 = m.d09 + excluded.d09,
    d10 = m.d10 + excluded.d10, d11 = m.d11 + excluded.d11, d12 = m.d12 + excluded.d12,
    d13 = m.d13 + excluded.d13, d14 = m.d14 + excluded.d14,
    duration_max = greatest(m.duration_max, excluded.duration_max),
    pickup_max = greatest(m.pickup_max, excluded.pickup_max)
