-- Seconds until the stalest live worker's heartbeat expires (NULL: no live worker).
SELECT extract(epoch FROM min(last_heartbeat) + make_interval(secs => %(liveness)s) - now()) AS seconds
FROM conveyor_workers WHERE state NOT IN ('stopped', 'dead')
