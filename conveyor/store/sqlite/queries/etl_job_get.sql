-- One ETL job by id.
SELECT * FROM etl_jobs WHERE id = :id
