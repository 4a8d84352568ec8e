-- The Metrics page's figures: per-minute rows since :since (unix seconds) added up per task,
-- queue and chart point t (a multiple of :step seconds).
SELECT task, queue, (floor(extract(epoch FROM minute) / %(step)s) * %(step)s)::float8 AS t,
    sum(succeeded)::float8 AS succeeded, sum(failed)::float8 AS failed, sum(duration_sum)::float8 AS duration_sum,
    sum(pickup_n)::float8 AS pickup_n, sum(pickup_sum)::float8 AS pickup_sum, sum(d00)::float8 AS d00,
    sum(d01)::float8 AS d01, sum(d02)::float8 AS d02, sum(d03)::float8 AS d03,
    sum(d04)::float8 AS d04, sum(d05)::float8 AS d05, sum(d06)::float8 AS d06,
    sum(d07)::float8 AS d07, sum(d08)::float8 AS d08, sum(d09)::float8 AS d09,
    sum(d10)::float8 AS d10, sum(d11)::float8 AS d11, sum(d12)::float8 AS d12,
    sum(d13)::float8 AS d13, sum(d14)::float8 AS d14,
    max(duration_max) AS duration_max, max(pickup_max) AS pickup_max
FROM conveyor_task_minutes
WHERE minute >= to_timestamp(%(since)s) AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
GROUP BY 1, 2, 3
