-- Add a run's counter deltas into its counters (pipeline_deltas_delete then removes them).
UPDATE pipeline_stage_counts AS c
SET events = c.events + agg.n, entered = c.entered + agg.entered, outstanding = c.outstanding + agg.outstanding,
    done = c.done + agg.done, failed = c.failed + agg.failed, cancelled = c.cancelled + agg.cancelled,
    started_at = coalesce(c.started_at, agg.first_entered),
    finished_at = max(coalesce(c.finished_at, 0), coalesce(agg.last_finished, 0)),
    last_error = coalesce(agg.last_error, c.last_error)
FROM (
    SELECT step, stage, count(*) AS n, sum(entered) AS entered, sum(outstanding) AS outstanding, sum(done) AS done,
           sum(failed) AS failed, sum(cancelled) AS cancelled,
           min(CASE WHEN entered > 0 THEN at END) AS first_entered,
           max(CASE WHEN outstanding < 0 THEN at END) AS last_finished,
           (SELECT e.error FROM pipeline_count_deltas e WHERE e.run_id = :run AND e.step = x.step
              AND e.stage = x.stage AND e.error IS NOT NULL ORDER BY e.at DESC LIMIT 1) AS last_error
    FROM pipeline_count_deltas x WHERE run_id = :run GROUP BY step, stage) AS agg WHERE c.run_id = :run AND c.step = agg.step AND c.stage = agg.stage
