-- Whether a scheduled job's time has come: a read, so the common case takes no write lock.
SELECT 1 FROM conveyor_jobs WHERE state = 'scheduled' AND run_at <= :now LIMIT 1
