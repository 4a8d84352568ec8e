-- Seconds until the stalest live worker's heartbeat expires (NULL: no live worker).
SELECT min(last_heartbeat) + :liveness - :now AS seconds FROM conveyor_workers WHERE state NOT IN ('stopped', 'dead')
