-- A round trip on a worker lock's connection, after the server wrote to it unasked: it fails when
-- the server has ended the session (terminated, shutting down), and with it the lock.
SELECT 1
