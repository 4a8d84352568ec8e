-- A worker exits gracefully.
UPDATE conveyor_workers SET state = 'stopped', stopped_at = :now, jobs_in_flight = 0
WHERE id = :id AND state <> 'dead'
