-- Jobs changed or deleted since :since (the event poller's read), oldest first.
SELECT id, state, updated_at FROM conveyor_jobs WHERE updated_at > :since
UNION ALL SELECT id, 'deleted', deleted_at FROM conveyor_deletions WHERE deleted_at > :since
ORDER BY 3 LIMIT 5000
