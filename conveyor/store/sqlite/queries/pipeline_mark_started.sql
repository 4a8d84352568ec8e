-- Mark a stage cell started (keeping the first start time).
UPDATE pipeline_stage_counts SET started = 1, started_at = coalesce(started_at, ?) WHERE run_id = ? AND step = ? AND stage = ?
