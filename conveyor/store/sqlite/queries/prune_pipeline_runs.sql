-- Delete up to :batch pipeline runs that finished before :cutoff (trigger pipeline_run_pruned
-- takes their counters, deltas and raw rows); a run an active reprocess run reads from is kept.
DELETE FROM pipeline_runs WHERE id IN (
    SELECT r.id FROM pipeline_runs r
    WHERE r.state IN ('FINISHED', 'FAILED', 'CANCELLED') AND r.finished_at < :cutoff
      AND NOT EXISTS (SELECT 1 FROM pipeline_runs a WHERE a.reprocess_of = r.id AND a.state IN ('READY', 'RUNNING'))
    ORDER BY r.finished_at LIMIT :batch)
RETURNING id
