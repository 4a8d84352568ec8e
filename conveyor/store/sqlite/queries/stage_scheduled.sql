-- Scheduled jobs whose run_at has come become queued (up to :limit).
UPDATE conveyor_jobs SET state = 'queued', queued_at = :now, updated_at = :now
WHERE id IN (SELECT id FROM conveyor_jobs WHERE state = 'scheduled' AND run_at <= :now
             ORDER BY run_at LIMIT :limit)
RETURNING queue
