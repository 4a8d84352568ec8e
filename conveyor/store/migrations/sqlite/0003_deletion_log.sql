-- The ids of deleted jobs, whichever process deleted them (the CLI, a worker's retention pass,
-- an API server), for every process's event poller: it reads changes by updated_at, and a
-- deleted row leaves nothing to read. Maintenance keeps a minute of them.
CREATE TABLE conveyor_deletions (
    id         TEXT NOT NULL,
    deleted_at REAL NOT NULL
);
CREATE INDEX conveyor_deletions_at ON conveyor_deletions (deleted_at);

CREATE TRIGGER conveyor_jobs_deleted AFTER DELETE ON conveyor_jobs
BEGIN
    INSERT INTO conveyor_deletions (id, deleted_at) VALUES (old.id, (julianday('now') - 2440587.5) * 86400.0);
END;
