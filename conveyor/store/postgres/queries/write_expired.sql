-- Jobs past the schedule-to-start deadline become dead with the error given for each.
WITH v AS (SELECT * FROM unnest(%(id)s::uuid[], %(error)s::text[]) AS v(id, error))
UPDATE conveyor_jobs j SET state = 'dead', finished_at = now(), updated_at = now(), error = v.error
FROM v WHERE j.id = v.id AND j.state = 'queued'
RETURNING j.id::text
