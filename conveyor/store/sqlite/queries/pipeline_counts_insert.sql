-- Create one counter cell of a new run (run with executemany).
INSERT INTO pipeline_stage_counts (run_id, step, stage, skipped) VALUES (?, ?, ?, ?)
