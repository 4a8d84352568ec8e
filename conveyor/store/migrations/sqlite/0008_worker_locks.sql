-- Crash detection (#18): each worker holds an OS file lock (flock) on a file of its own beside the
-- database, for as long as its process lives; the kernel releases it when the process dies, and
-- the maintenance probe declares the worker dead at once ('exited').
-- lock_key: the name of that file (NULL: the worker holds none, heartbeat only).
-- detected_by: how a dead worker was found out: 'exited' or 'heartbeat expired' (when: stopped_at).
ALTER TABLE conveyor_workers ADD COLUMN lock_key TEXT;
ALTER TABLE conveyor_workers ADD COLUMN detected_by TEXT;
