-- Pause or resume claiming from a queue.
INSERT INTO conveyor_queues (name, paused) VALUES (%(queue)s, %(paused)s)
ON CONFLICT (name) DO UPDATE SET paused = excluded.paused
