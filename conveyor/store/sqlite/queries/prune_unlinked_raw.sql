-- Delete up to :batch raw rows saved outside any run before :cutoff (a run's raw rows go with it).
DELETE FROM raw_extraction_data WHERE id IN (
    SELECT id FROM raw_extraction_data WHERE run_id IS NULL AND created_at < :cutoff LIMIT :batch)
