-- Runs changed since a time (the run feed's poller).
SELECT id, updated_at FROM pipeline_runs WHERE updated_at > ?
