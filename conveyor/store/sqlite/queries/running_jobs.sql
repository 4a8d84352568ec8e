-- (id, lease) of jobs leased to one worker for longer than :seconds.
SELECT id, lease_token FROM conveyor_jobs WHERE state = 'running' AND worker_id = :worker_id
  AND started_at < :now - :seconds
