-- Write an ETL job's state as the orchestrator decided it, only if nobody changed the row since it was read.
UPDATE etl_jobs
SET pipeline = :pipeline, params = :params, integration_id = :integration_id, position = :position,
    active = :active, status = :status, run_status = :run_status, run_id = :run_id, token = :token,
    next_run = :next_run, last_run_started_at = :last_run_started_at,
    last_run_finished_at = :last_run_finished_at, last_sync_date = :last_sync_date, error = :error,
    alert = :alert, reset_deadline = :reset_deadline, reset_attempt = :reset_attempt,
    version = version + 1, updated_at = :now
WHERE id = :id AND version = :version RETURNING version
