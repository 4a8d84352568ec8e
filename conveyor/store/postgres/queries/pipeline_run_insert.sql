-- Insert a new pipeline run (finished at once when created in a final state).
INSERT INTO pipeline_runs (id, pipeline, tenant, token, params, queues, state, status, error, reprocess_of, from_stage, exclusive_key, finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, CASE WHEN %s IN ('FAILED', 'FINISHED', 'CANCELLED') THEN now() END)
