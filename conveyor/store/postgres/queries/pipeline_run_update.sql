-- Change a run's state and status (bumping its version); clock_timestamp(): the moment of the change,
-- not the start of a transaction that may have waited for the run's lock.
UPDATE pipeline_runs SET state = %s, status = %s, error = %s, updated_at = clock_timestamp(), version = version + 1, started_at = CASE WHEN %s THEN coalesce(started_at, clock_timestamp()) ELSE started_at END, finished_at = CASE WHEN %s THEN clock_timestamp() WHEN %s = 'RUNNING' THEN NULL ELSE finished_at END WHERE id = %s
