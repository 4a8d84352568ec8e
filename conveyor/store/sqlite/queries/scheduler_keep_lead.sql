-- Still the leader? Renew the lease only if it is still ours.
UPDATE conveyor_scheduler_lease SET expires_at = :until WHERE name = 'scheduler' AND owner = :owner
RETURNING 1 AS leader
