-- Ids of a run step's raw extraction rows, in order.
SELECT id FROM raw_extraction_data WHERE run_id = %s AND step = %s ORDER BY id
