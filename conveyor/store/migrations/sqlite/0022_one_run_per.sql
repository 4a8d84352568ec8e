-- Pipelines declared with one_run_per=[...] (the Jira and GitHub syncs: one per integration) keep
-- at most one unfinished run per key: a second start is refused by this index even when two
-- processes start one at the same moment (the Python check before it names the run in the way).
ALTER TABLE pipeline_runs ADD COLUMN exclusive_key TEXT;
CREATE UNIQUE INDEX pipeline_runs_one_unfinished ON pipeline_runs (exclusive_key)
    WHERE exclusive_key IS NOT NULL AND state IN ('READY', 'RUNNING');
