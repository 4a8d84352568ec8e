-- Progress and meta of a running job, only while the caller still holds its lease.
UPDATE conveyor_jobs SET
    progress_percent = coalesce(:percent, progress_percent),
    progress_processed = coalesce(:processed, progress_processed),
    progress_failed = coalesce(:failed, progress_failed),
    meta = CASE WHEN :meta IS NULL THEN meta ELSE json_patch(meta, :meta) END,
    updated_at = :now
WHERE id = :id AND lease_token = :lease AND state = 'running'
