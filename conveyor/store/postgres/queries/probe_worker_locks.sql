-- Probe the lock of every live worker that holds one. A lock this transaction can take means the
-- worker's session is gone (the probe keeps it until commit, so the verdict and the rescue happen
-- before anyone else can take it). First seen free: the worker is suspected (lock_free_since).
-- Still free grace seconds later, with no fresh lock recorded meanwhile: declared dead, 'exited'.
-- A lock seen held again clears the suspicion. No verdict in the first settle seconds after the
-- server started: every session is new then and the workers are still taking their locks again.
WITH probed AS MATERIALIZED (
    SELECT id, lock_key, lock_free_since, pg_try_advisory_xact_lock(%(space)s, lock_key) AS free
    FROM conveyor_workers
    WHERE state NOT IN ('stopped', 'dead') AND lock_key IS NOT NULL
),
judged AS (
    SELECT id, lock_key, free,
           free AND lock_free_since <= now() - make_interval(secs => %(grace)s)
               AND pg_postmaster_start_time() <= now() - make_interval(secs => %(settle)s) AS exited
    FROM probed WHERE free OR lock_free_since IS NOT NULL
)
UPDATE conveyor_workers w
SET lock_free_since = CASE WHEN j.free THEN coalesce(w.lock_free_since, now()) END,
    state = CASE WHEN j.exited THEN 'dead' ELSE w.state END,
    stopped_at = CASE WHEN j.exited THEN now() ELSE w.stopped_at END,
    detected_by = CASE WHEN j.exited THEN 'exited' ELSE w.detected_by END
FROM judged j
WHERE w.id = j.id AND w.lock_key = j.lock_key AND w.state NOT IN ('stopped', 'dead')
RETURNING w.id, j.exited
