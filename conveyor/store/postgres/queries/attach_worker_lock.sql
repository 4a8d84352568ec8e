-- Record the lock a worker holds now (and that it is no longer suspected of being gone); returns
-- its row's state, so a worker declared dead while its lock was away learns it at once.
UPDATE conveyor_workers SET lock_key = %(key)s, lock_free_since = NULL WHERE id = %(id)s RETURNING state
