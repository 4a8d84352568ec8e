-- Every ETL job in the orchestrator's order: by tenant, position, creation.
SELECT * FROM etl_jobs ORDER BY tenant, position, created_at, id
