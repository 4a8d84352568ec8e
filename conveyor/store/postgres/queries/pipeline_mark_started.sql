-- Mark stage cells started (keeping the first start time).
UPDATE pipeline_stage_counts SET started = true, started_at = coalesce(started_at, now()) WHERE (run_id, step, stage) IN (SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[]))
