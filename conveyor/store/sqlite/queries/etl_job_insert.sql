-- A new ETL job; one that the tenant already has under this name is left as it is (idempotent create).
INSERT INTO etl_jobs (id, tenant, name, pipeline, params, integration_id, position, active, status, created_at, updated_at)
VALUES (:id, :tenant, :name, :pipeline, :params, :integration_id, :position, :active, 'NOT_STARTED', :now, :now)
ON CONFLICT (tenant, name) DO NOTHING RETURNING id
