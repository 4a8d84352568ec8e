-- Take a fresh worker lock for this session: a new key from the sequence, locked at once (false
-- only if the sequence wrapped onto a key some live session still holds: take another).
SELECT k AS key, pg_try_advisory_lock(%(space)s, k) AS taken
FROM (SELECT nextval('conveyor_worker_lock_keys')::integer AS k) fresh
