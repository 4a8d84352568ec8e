-- Runs with jobs counted since their last fold (the counting trigger leaves the run's row alone).
SELECT DISTINCT run_id FROM pipeline_count_deltas
