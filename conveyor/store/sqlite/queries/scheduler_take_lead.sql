-- Become (or stay) the scheduler's leader: take the lease when it is free, expired or ours.
INSERT INTO conveyor_scheduler_lease (name, owner, expires_at) VALUES ('scheduler', :owner, :until)
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
WHERE conveyor_scheduler_lease.owner = excluded.owner OR conveyor_scheduler_lease.expires_at < :now
RETURNING owner = :owner AS leader
