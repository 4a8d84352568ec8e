-- Whether any of the queues (a JSON array) has a ready job: a read, so an idle worker's poll
-- takes no write lock.
SELECT 1 FROM conveyor_jobs WHERE state = 'queued' AND queue IN (SELECT value FROM json_each(:queues)) LIMIT 1
