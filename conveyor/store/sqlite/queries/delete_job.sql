-- Delete a job in one of the :from (finished) states. No row back: the job was in another state.
DELETE FROM conveyor_jobs WHERE id = :id AND state IN (SELECT value FROM json_each(:from)) RETURNING state, queue
