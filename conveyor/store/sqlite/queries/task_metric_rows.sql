-- The Metrics page's figures: per-minute rows since :since (unix seconds) added up per task,
-- queue and chart point t (a multiple of :step seconds).
SELECT task, queue, CAST(minute / :step AS INTEGER) * :step AS t,
    sum(succeeded) AS succeeded, sum(failed) AS failed, sum(duration_sum) AS duration_sum, sum(pickup_n) AS pickup_n,
    sum(pickup_sum) AS pickup_sum, sum(d00) AS d00, sum(d01) AS d01, sum(d02) AS d02,
    sum(d03) AS d03, sum(d04) AS d04, sum(d05) AS d05, sum(d06) AS d06,
    sum(d07) AS d07, sum(d08) AS d08, sum(d09) AS d09, sum(d10) AS d10,
    sum(d11) AS d11, sum(d12) AS d12, sum(d13) AS d13, sum(d14) AS d14,
    max(duration_max) AS duration_max, max(pickup_max) AS pickup_max
FROM conveyor_task_minutes
WHERE minute >= :since AND (:tenant IS NULL OR tenant = :tenant)
GROUP BY 1, 2, 3
