-- Live counters of the runs in :runs (a JSON array): compacted counters plus unfolded deltas,
-- running and parked jobs (scheduled by ParkJob: their last attempt's outcome is 'parked';
-- resume_at is the earliest run_at among them), with each run's version.
SELECT c.run_id, c.step, c.stage, c.entered + coalesce(d.entered, 0) AS entered,
       c.outstanding + coalesce(d.outstanding, 0) AS outstanding, c.done + coalesce(d.done, 0) AS done,
       c.failed + coalesce(d.failed, 0) AS failed, c.cancelled + coalesce(d.cancelled, 0) AS cancelled,
       c.started, c.skipped, coalesce(c.started_at, d.first_entered) AS started_at,
       nullif(max(coalesce(c.finished_at, 0), coalesce(d.last_finished, 0)), 0) AS finished_at,
       coalesce(d.last_error, c.last_error) AS last_error, coalesce(r.running, 0) AS running,
       coalesce(r.parked, 0) AS parked, r.resume_at,
       c.events + coalesce(d.n, 0) AS events, p.version AS run_version
FROM pipeline_stage_counts c
JOIN pipeline_runs p ON p.id = c.run_id
LEFT JOIN (
    SELECT run_id, step, stage, count(*) AS n, sum(entered) AS entered, sum(outstanding) AS outstanding,
           sum(done) AS done, sum(failed) AS failed, sum(cancelled) AS cancelled,
           min(CASE WHEN entered > 0 THEN at END) AS first_entered,
           max(CASE WHEN outstanding < 0 THEN at END) AS last_finished,
           (SELECT e.error FROM pipeline_count_deltas e WHERE e.run_id = x.run_id AND e.step = x.step
              AND e.stage = x.stage AND e.error IS NOT NULL ORDER BY e.at DESC LIMIT 1) AS last_error
    FROM pipeline_count_deltas x WHERE run_id IN (SELECT value FROM json_each(:runs)) GROUP BY run_id, step, stage
) d ON d.run_id = c.run_id AND d.step = c.step AND d.stage = c.stage
LEFT JOIN (
    SELECT pipeline_run_id AS run_id, step, stage, sum(state = 'running') AS running,
           sum(state = 'scheduled' AND json_extract(attempt_log, '$[#-1].outcome') = 'parked') AS parked,
           min(CASE WHEN state = 'scheduled' AND json_extract(attempt_log, '$[#-1].outcome') = 'parked' THEN run_at END)
               AS resume_at
    FROM conveyor_jobs
    WHERE pipeline_run_id IN (SELECT value FROM json_each(:runs)) AND state IN ('running', 'scheduled')
    GROUP BY 1, 2, 3
) r ON r.run_id = c.run_id AND r.step = c.step AND r.stage = c.stage
WHERE c.run_id IN (SELECT value FROM json_each(:runs))
