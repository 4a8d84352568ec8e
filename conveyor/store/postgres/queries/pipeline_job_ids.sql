-- A run's stage jobs (id, step, stage, state), optionally only in some states.
SELECT id::text, step, stage, state FROM conveyor_jobs WHERE pipeline_run_id = %s AND (cardinality(%s::text[]) = 0 OR state = ANY(%s::text[])) ORDER BY id
