-- The wake-up socket addresses of the live running workers on this host that serve one queue
-- (wakeups.py: a datagram after an enqueue commits).
SELECT DISTINCT w.wake_address AS address
FROM conveyor_workers w
WHERE w.state = 'running' AND w.last_heartbeat > :now - :liveness AND w.hostname = :hostname
  AND w.wake_address IS NOT NULL
  AND EXISTS (SELECT 1 FROM json_each(w.queues) q WHERE q.value = :queue)
