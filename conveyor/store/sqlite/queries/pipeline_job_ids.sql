-- A run's stage jobs (id, step, stage, state) (a state filter, if any, composed in Python).
SELECT id, step, stage, state FROM conveyor_jobs WHERE pipeline_run_id = ?{states} ORDER BY id
