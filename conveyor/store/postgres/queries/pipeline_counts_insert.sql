-- Create a new run's counter cells, one per (step, stage), some marked skipped.
INSERT INTO pipeline_stage_counts (run_id, step, stage, skipped) SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::bool[])
