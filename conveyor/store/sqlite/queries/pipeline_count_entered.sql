-- Append one counter delta for a (run, step, stage) of stage jobs just written.
INSERT INTO pipeline_count_deltas (run_id, step, stage, entered, outstanding, cancelled, at) VALUES (?, ?, ?, ?, ?, ?, ?)
