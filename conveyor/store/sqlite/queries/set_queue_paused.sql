-- Pause or resume claiming from a queue.
INSERT INTO conveyor_queues (name, paused) VALUES (:queue, :paused)
ON CONFLICT (name) DO UPDATE SET paused = excluded.paused
