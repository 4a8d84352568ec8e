-- Remove a run's counter deltas once folded.
DELETE FROM pipeline_count_deltas WHERE run_id = ?
