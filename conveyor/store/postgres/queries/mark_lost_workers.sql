-- Workers without a heartbeat inside the liveness timeout are declared dead.
UPDATE conveyor_workers SET state = 'dead', stopped_at = now()
WHERE state NOT IN ('stopped', 'dead') AND last_heartbeat < now() - make_interval(secs => %(liveness)s)
RETURNING id
