-- GitHub run metrics as Jira's (issue 16): throttled answers (whether slept through or parked),
-- seconds slept in place on short rate-limit waits, transient 5xx/network retries and page-size
-- halvings, per stage attempt.
ALTER TABLE github_run_metrics ADD COLUMN rate_limit_hits integer NOT NULL DEFAULT 0;
ALTER TABLE github_run_metrics ADD COLUMN waited_seconds double precision NOT NULL DEFAULT 0;
ALTER TABLE github_run_metrics ADD COLUMN retries integer NOT NULL DEFAULT 0;
ALTER TABLE github_run_metrics ADD COLUMN page_shrinks integer NOT NULL DEFAULT 0;
