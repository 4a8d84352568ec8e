-- A page of runs, newest first; the WHERE conditions are composed in Python from fixed column conditions.
SELECT id, pipeline, tenant, token, params, queues, state, status, error, reprocess_of, from_stage, created_at, started_at, finished_at, updated_at, version FROM pipeline_runs WHERE {where} ORDER BY id DESC LIMIT %(limit)s
