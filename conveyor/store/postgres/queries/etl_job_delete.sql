-- Delete an ETL job.
DELETE FROM etl_jobs WHERE id = %(id)s RETURNING id
