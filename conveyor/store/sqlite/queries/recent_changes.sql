-- Jobs changed or deleted since :since (the event poller's read), oldest first. A running job
-- changed after its claim had its progress or meta written (or a cancellation requested): that
-- is announced as 'progress', as PostgreSQL does.
SELECT id, CASE WHEN state = 'running' AND updated_at > started_at THEN 'progress' ELSE state END AS state,
       updated_at
FROM conveyor_jobs WHERE updated_at > :since
UNION ALL SELECT id, 'deleted', deleted_at FROM conveyor_deletions WHERE deleted_at > :since
ORDER BY 3 LIMIT 5000
