-- Lock a run's counter rows in one order, so concurrent folds wait instead of deadlocking.
SELECT 1 FROM pipeline_stage_counts WHERE run_id = %(run)s ORDER BY step, stage FOR UPDATE
