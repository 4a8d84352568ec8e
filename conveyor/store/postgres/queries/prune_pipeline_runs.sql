-- Delete up to batch pipeline runs that finished before cutoff, with their counters (cascade),
-- unfolded counter deltas and raw rows; a run that an active reprocess run reads from is kept.
WITH gone AS (
    DELETE FROM pipeline_runs WHERE id IN (
        SELECT r.id FROM pipeline_runs r
        WHERE r.state IN ('FINISHED', 'FAILED', 'CANCELLED') AND r.finished_at < %(cutoff)s
          AND NOT EXISTS (SELECT 1 FROM pipeline_runs a WHERE a.reprocess_of = r.id AND a.state IN ('READY', 'RUNNING'))
        ORDER BY r.finished_at LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
    RETURNING id),
deltas AS (DELETE FROM pipeline_count_deltas WHERE run_id IN (SELECT id FROM gone)),
raw AS (DELETE FROM raw_extraction_data WHERE run_id IN (SELECT id FROM gone))
SELECT id::text FROM gone
