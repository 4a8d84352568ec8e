-- One raw extraction row by id.
SELECT * FROM raw_extraction_data WHERE id = ?
