-- Job lists are ordered by id, not created_at: ids are UUIDv7, so id order is creation order
-- (to the millisecond, by the producer's clock) and the primary key serves "newest first".
DROP INDEX conveyor_jobs_created;
