-- Delete an ETL job.
DELETE FROM etl_jobs WHERE id = :id RETURNING id
