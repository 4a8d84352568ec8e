-- Live running workers per queue, for a list of queues in one statement.
SELECT q.name, count(w.id) AS n FROM unnest(%s::text[]) AS q(name) LEFT JOIN conveyor_workers w ON q.name = ANY(w.queues) AND w.state = 'running' AND w.last_heartbeat > now() - make_interval(secs => %s) GROUP BY q.name
