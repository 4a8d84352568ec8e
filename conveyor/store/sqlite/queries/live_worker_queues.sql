-- Queues (a JSON array) and state of every live running or paused worker.
SELECT queues, state FROM conveyor_workers WHERE state IN ('running', 'paused') AND last_heartbeat > :now - :liveness
