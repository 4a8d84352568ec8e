-- Live counters of some runs: compacted counters plus unfolded deltas, running and parked jobs
-- (scheduled by ParkJob: their last attempt's outcome is 'parked'; resume_at is the earliest
-- run_at among them), with each run's version.
SELECT c.run_id::text AS run_id, c.step, c.stage,
       c.entered + coalesce(d.entered, 0) AS entered, c.outstanding + coalesce(d.outstanding, 0) AS outstanding,
       c.done + coalesce(d.done, 0) AS done, c.failed + coalesce(d.failed, 0) AS failed,
       c.cancelled + coalesce(d.cancelled, 0) AS cancelled, c.started, c.skipped,
       coalesce(c.started_at, d.first_entered) AS started_at,
       greatest(c.finished_at, d.last_finished) AS finished_at, coalesce(d.last_error, c.last_error) AS last_error,
       coalesce(r.running, 0) AS running, coalesce(r.parked, 0) AS parked, r.resume_at, c.events + coalesce(d.n, 0) AS events, p.version AS run_version
FROM pipeline_stage_counts c
JOIN pipeline_runs p ON p.id = c.run_id
LEFT JOIN (
    SELECT run_id, step, stage, count(*) AS n, sum(entered) AS entered, sum(outstanding) AS outstanding, sum(done) AS done,
           sum(failed) AS failed, sum(cancelled) AS cancelled,
           min(at) FILTER (WHERE entered > 0) AS first_entered,
           max(at) FILTER (WHERE outstanding < 0) AS last_finished,
           (array_agg(error ORDER BY at DESC) FILTER (WHERE error IS NOT NULL))[1] AS last_error
    FROM pipeline_count_deltas WHERE run_id = ANY(%(runs)s::uuid[]) GROUP BY run_id, step, stage) d
       USING (run_id, step, stage)
LEFT JOIN (SELECT pipeline_run_id AS run_id, step, stage, count(*) FILTER (WHERE state = 'running') AS running,
                  count(*) FILTER (WHERE state = 'scheduled' AND attempt_log->-1->>'outcome' = 'parked') AS parked,
                  min(run_at) FILTER (WHERE state = 'scheduled' AND attempt_log->-1->>'outcome' = 'parked') AS resume_at
           FROM conveyor_jobs
           WHERE pipeline_run_id = ANY(%(runs)s::uuid[]) AND state IN ('running', 'scheduled') GROUP BY 1, 2, 3) r
       USING (run_id, step, stage)
WHERE c.run_id = ANY(%(runs)s::uuid[])
