-- Wake the workers of a queue (jobs may be ready on it).
SELECT pg_notify('conveyor_wake', %(queue)s)
