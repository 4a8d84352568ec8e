-- Jobs past the schedule-to-start deadline become dead with the error given for each (a JSON
-- array of objects).
UPDATE conveyor_jobs SET state = 'dead', finished_at = :now, updated_at = :now, error = v.error
FROM (SELECT value ->> 'id' AS id, value ->> 'error' AS error FROM json_each(:expired)) AS v
WHERE conveyor_jobs.id = v.id AND conveyor_jobs.state = 'queued'
RETURNING conveyor_jobs.id
