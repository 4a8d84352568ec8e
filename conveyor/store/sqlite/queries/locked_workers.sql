-- Live workers that hold a lock file (id, file name): the maintenance probe tries each file's lock.
SELECT id, lock_key FROM conveyor_workers WHERE state NOT IN ('stopped', 'dead') AND lock_key IS NOT NULL
