-- Bump a run's updated_at, so the run feed's poller sees it changed.
UPDATE pipeline_runs SET updated_at = ? WHERE id = ?
