-- Record the lock a worker holds now; returns its row's state, so a worker declared dead learns it.
UPDATE conveyor_workers SET lock_key = :key WHERE id = :id RETURNING state
