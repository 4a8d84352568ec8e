-- Completions per queue in the last minute and hour, from the 10-second counter rows.
SELECT queue, sum(CASE WHEN bucket > :now - 60 THEN n ELSE 0 END) AS last_minute, sum(n) AS last_hour
FROM conveyor_completions
WHERE bucket > :now - 3600 AND (:tenant IS NULL OR tenant = :tenant)
GROUP BY queue
