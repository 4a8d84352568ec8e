-- Write an ETL job's state as the orchestrator decided it, only if nobody changed the row since it was read.
UPDATE etl_jobs
SET pipeline = %(pipeline)s, params = %(params)s::jsonb, integration_id = %(integration_id)s, position = %(position)s,
    active = %(active)s, status = %(status)s, run_status = %(run_status)s::jsonb, run_id = %(run_id)s, token = %(token)s,
    next_run = %(next_run)s, last_run_started_at = %(last_run_started_at)s,
    last_run_finished_at = %(last_run_finished_at)s, last_sync_date = %(last_sync_date)s, error = %(error)s,
    alert = %(alert)s, reset_deadline = %(reset_deadline)s, reset_attempt = %(reset_attempt)s,
    version = version + 1, updated_at = %(now)s
WHERE id = %(id)s AND version = %(version)s RETURNING version
