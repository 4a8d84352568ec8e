-- One ETL job by tenant and name.
SELECT * FROM etl_jobs WHERE tenant = %(tenant)s AND name = %(name)s
