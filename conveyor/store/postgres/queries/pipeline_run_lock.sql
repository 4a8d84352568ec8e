-- One run by id, row-locked for the advancer's transaction.
SELECT id, pipeline, tenant, token, params, queues, state, status, error, reprocess_of, from_stage, created_at, started_at, finished_at, updated_at, version FROM pipeline_runs WHERE id = %s FOR UPDATE
