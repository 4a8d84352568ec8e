-- How many jobs carrying a run's token are not finished yet (the reset countdown waits for none).
SELECT count(*) AS n FROM conveyor_jobs WHERE token = :token AND state IN ('scheduled', 'queued', 'running')
