-- Give a running job more time (its deadline and timeout grow), only under its lease.
UPDATE conveyor_jobs SET deadline = max(coalesce(deadline, :now), :now) + :seconds,
    timeout = coalesce(timeout, 0) + :seconds, updated_at = :now
WHERE id = :id AND lease_token = :lease AND state = 'running'
