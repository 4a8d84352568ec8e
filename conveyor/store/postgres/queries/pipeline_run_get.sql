-- One run by id, optionally only within a tenant.
SELECT id, pipeline, tenant, token, params, queues, state, status, error, reprocess_of, from_stage, created_at, started_at, finished_at, updated_at, version FROM pipeline_runs WHERE id = %s AND (%s::text IS NULL OR tenant = %s)
