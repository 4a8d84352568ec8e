-- Give a running job more time (its deadline and timeout grow), only under its lease.
UPDATE conveyor_jobs SET deadline = greatest(deadline, now()) + make_interval(secs => %(seconds)s),
    timeout = coalesce(timeout, 0) + %(seconds)s, updated_at = now()
WHERE id = %(id)s AND lease_token = %(lease)s AND state = 'running'
