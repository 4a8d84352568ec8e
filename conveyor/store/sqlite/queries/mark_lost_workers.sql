-- Workers without a heartbeat inside the liveness timeout are declared dead ('heartbeat expired').
UPDATE conveyor_workers SET state = 'dead', stopped_at = :now, detected_by = 'heartbeat expired'
WHERE state NOT IN ('stopped', 'dead') AND last_heartbeat < :now - :liveness RETURNING id
