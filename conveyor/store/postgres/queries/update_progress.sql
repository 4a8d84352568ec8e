-- Progress and meta of a running job, only while the caller still holds its lease.
UPDATE conveyor_jobs SET
    progress_percent = coalesce(%(percent)s, progress_percent),
    progress_processed = coalesce(%(processed)s, progress_processed),
    progress_failed = coalesce(%(failed)s, progress_failed),
    meta = CASE WHEN %(meta)s::jsonb IS NULL THEN meta ELSE meta || %(meta)s::jsonb END,
    updated_at = now()
WHERE id = %(id)s AND lease_token = %(lease)s AND state = 'running'
