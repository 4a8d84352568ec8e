-- Insert a new pipeline run (finished_at given when created in a final state).
INSERT INTO pipeline_runs (id, pipeline, tenant, token, params, queues, state, status, error, reprocess_of, from_stage, exclusive_key, created_at, started_at, finished_at, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, 0)
