-- A run's counters right after a fold, for the advancer (no unfolded deltas, no running jobs).
SELECT step, stage, entered, outstanding, done, failed, cancelled, started, skipped, started_at, finished_at, last_error, 0 AS running, events, 0 AS run_version FROM pipeline_stage_counts WHERE run_id = ?
