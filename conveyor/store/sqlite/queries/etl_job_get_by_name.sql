-- One ETL job by tenant and name.
SELECT * FROM etl_jobs WHERE tenant = :tenant AND name = :name
