-- A job that starts its own chain stores token NULL on both engines (it reads as its id's hex).
-- Rows written before migration 0004 still carry the explicit form: store them the same way.
UPDATE conveyor_jobs SET token = NULL WHERE token = replace(id::text, '-', '');
