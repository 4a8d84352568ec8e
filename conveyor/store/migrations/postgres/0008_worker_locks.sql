-- Crash detection (#18): each worker holds a session-level advisory lock, (space, lock_key), on a
-- connection of its own for as long as its process lives. When the process dies the server
-- drops the session and the lock with it; the maintenance probe finds the lock free and declares
-- the worker dead at once ('exited'), instead of waiting for its heartbeat to expire.
-- lock_key: the key the worker holds now (a fresh one from the sequence each time it takes its
-- lock, so a new session never waits on an old one); NULL: the worker holds none (heartbeat only).
-- lock_free_since: when a probe first found that lock free; the worker is declared dead only if it
-- has not taken a new one within a grace period (a dropped connection of a live worker).
-- detected_by: how a dead worker was found out: 'exited' or 'heartbeat expired' (when: stopped_at).
CREATE SEQUENCE conveyor_worker_lock_keys AS integer CYCLE;

ALTER TABLE conveyor_workers
    ADD COLUMN lock_key integer,
    ADD COLUMN lock_free_since timestamptz,
    ADD COLUMN detected_by text;
