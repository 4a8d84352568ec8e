-- A new ETL job; one that the tenant already has under this name is left as it is (idempotent create).
INSERT INTO etl_jobs (id, tenant, name, pipeline, params, integration_id, position, active, status, created_at, updated_at)
VALUES (%(id)s, %(tenant)s, %(name)s, %(pipeline)s, %(params)s::jsonb, %(integration_id)s, %(position)s, %(active)s,
        'NOT_STARTED', %(now)s, %(now)s)
ON CONFLICT (tenant, name) DO NOTHING RETURNING id
