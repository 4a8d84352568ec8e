-- Append one counter delta per (run, step, stage) for stage jobs just written.
INSERT INTO pipeline_count_deltas (run_id, step, stage, entered, outstanding, cancelled) SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::int[], %s::int[], %s::int[])
