-- Move a run's counter deltas into its counters.
WITH moved AS (DELETE FROM pipeline_count_deltas WHERE run_id = %(run)s RETURNING *),
agg AS (
    SELECT step, stage, count(*) AS n, sum(entered) AS entered, sum(outstanding) AS outstanding, sum(done) AS done,
           sum(failed) AS failed, sum(cancelled) AS cancelled,
           min(at) FILTER (WHERE entered > 0) AS first_entered,
           max(at) FILTER (WHERE outstanding < 0) AS last_finished,
           (array_agg(error ORDER BY at DESC) FILTER (WHERE error IS NOT NULL))[1] AS last_error
    FROM moved GROUP BY step, stage)
UPDATE pipeline_stage_counts c
SET events = c.events + agg.n, entered = c.entered + agg.entered, outstanding = c.outstanding + agg.outstanding, done = c.done + agg.done,
    failed = c.failed + agg.failed, cancelled = c.cancelled + agg.cancelled,
    started_at = coalesce(c.started_at, agg.first_entered),
    finished_at = greatest(c.finished_at, agg.last_finished), last_error = coalesce(agg.last_error, c.last_error)
FROM agg WHERE c.run_id = %(run)s AND c.step = agg.step AND c.stage = agg.stage
