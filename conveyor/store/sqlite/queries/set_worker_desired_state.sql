-- An operator asks a live worker to pause, resume or stop.
UPDATE conveyor_workers SET desired_state = :desired WHERE id = :id
  AND state NOT IN ('stopped', 'dead') RETURNING id
