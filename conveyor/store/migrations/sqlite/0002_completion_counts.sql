-- Completions counted per 10-second bucket (unix seconds), tenant, queue and worker as they are
-- recorded: the throughput figures read a few hundred of these rows instead of counting every job
-- finished in the last hour. See the PostgreSQL migration 0003.
CREATE TABLE conveyor_completions (
    bucket    REAL NOT NULL,
    tenant    TEXT NOT NULL,
    queue     TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (bucket, tenant, queue, worker_id)
);

INSERT INTO conveyor_completions (bucket, tenant, queue, worker_id, n)
SELECT CAST(finished_at / 10 AS INTEGER) * 10, tenant, queue, coalesce(worker_id, ''), count(*)
FROM conveyor_jobs
WHERE state = 'completed' AND finished_at > CAST(strftime('%s', 'now') AS REAL) - 3600
GROUP BY 1, 2, 3, 4;
