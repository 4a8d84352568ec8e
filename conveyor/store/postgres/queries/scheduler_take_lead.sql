-- Become the scheduler's leader: a session advisory lock, released when this connection ends.
SELECT pg_try_advisory_lock(7317733) AS leader
