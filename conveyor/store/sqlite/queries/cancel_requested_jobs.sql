-- Running jobs of one worker whose cancellation an operator asked for.
SELECT id FROM conveyor_jobs WHERE state = 'running' AND worker_id = :worker_id AND cancel_requested
