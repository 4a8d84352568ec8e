-- Delete up to :batch finished jobs past their retention: completed and cancelled after
-- :result_ttl seconds, failed and dead after :failure_ttl.
DELETE FROM conveyor_jobs WHERE id IN (
    SELECT id FROM conveyor_jobs WHERE finished_at IS NOT NULL AND (
        (state IN ('completed', 'cancelled') AND finished_at < :now - :result_ttl)
     OR (state IN ('failed', 'dead') AND finished_at < :now - :failure_ttl))
    LIMIT :batch)
