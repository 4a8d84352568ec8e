-- Workers without a heartbeat inside the liveness timeout are declared dead ('heartbeat expired').
-- A heartbeat is never older than the server's start: after a restart that took longer than the
-- timeout, the workers get the timeout again to come back, instead of all looking dead at once.
UPDATE conveyor_workers SET state = 'dead', stopped_at = now(), detected_by = 'heartbeat expired'
WHERE state NOT IN ('stopped', 'dead')
  AND greatest(last_heartbeat, pg_postmaster_start_time()) < now() - make_interval(secs => %(liveness)s)
RETURNING id
