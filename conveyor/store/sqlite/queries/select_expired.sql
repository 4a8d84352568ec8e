-- Ready jobs of stranded queues (a JSON array) that waited longer than :deadline seconds (the
-- schedule-to-start deadline), with how long they waited.
SELECT id, queue, :now - queued_at AS waited FROM conveyor_jobs
WHERE state = 'queued' AND queue IN (SELECT value FROM json_each(:queues)) AND queued_at < :now - :deadline
