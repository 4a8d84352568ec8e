-- Progress and meta of a running job, only while the caller still holds its lease. Meta keys are
-- set one by one, as PostgreSQL's jsonb || does (a null is stored, a nested object replaced):
-- json_each gives each value back with its JSON type, json_group_object builds the new object.
UPDATE conveyor_jobs SET
    progress_percent = coalesce(:percent, progress_percent),
    progress_processed = coalesce(:processed, progress_processed),
    progress_failed = coalesce(:failed, progress_failed),
    meta = CASE WHEN :meta IS NULL THEN meta ELSE (
        SELECT json_group_object(key, CASE type WHEN 'true' THEN json('true') WHEN 'false' THEN json('false')
                                                WHEN 'null' THEN json('null') WHEN 'object' THEN json(value)
                                                WHEN 'array' THEN json(value) ELSE value END)
        FROM (SELECT key, value, type FROM json_each(conveyor_jobs.meta)
              WHERE key NOT IN (SELECT key FROM json_each(:meta))
              UNION ALL SELECT key, value, type FROM json_each(:meta))) END,
    updated_at = :now
WHERE id = :id AND lease_token = :lease AND state = 'running'
