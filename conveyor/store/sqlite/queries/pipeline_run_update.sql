-- Change a run's state and status (bumping its version).
UPDATE pipeline_runs SET state = ?, status = ?, error = ?, updated_at = ?, version = version + 1, started_at = CASE WHEN ? THEN coalesce(started_at, ?) ELSE started_at END, finished_at = CASE WHEN ? THEN ? WHEN ? = 'RUNNING' THEN NULL ELSE finished_at END WHERE id = ?
