-- Delete a job in one of the from (finished) states. No row back: the job was in another state.
DELETE FROM conveyor_jobs WHERE id = %(id)s AND state = ANY(%(from)s) RETURNING state, queue
