-- GitHub run metrics as Jira's (issue 16; see the PostgreSQL file).
ALTER TABLE github_run_metrics ADD COLUMN rate_limit_hits INTEGER NOT NULL DEFAULT 0;
ALTER TABLE github_run_metrics ADD COLUMN waited_seconds REAL NOT NULL DEFAULT 0;
ALTER TABLE github_run_metrics ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE github_run_metrics ADD COLUMN page_shrinks INTEGER NOT NULL DEFAULT 0;
