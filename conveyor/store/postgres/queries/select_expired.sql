-- Ready jobs of stranded queues that waited longer than deadline seconds (the
-- schedule-to-start deadline), with how long they waited; locked for this pass.
SELECT id, queue, extract(epoch FROM now() - queued_at)::float8 AS waited FROM conveyor_jobs
WHERE state = 'queued' AND queue = ANY(%(queues)s::text[])
  AND queued_at < now() - make_interval(secs => %(deadline)s)
FOR UPDATE SKIP LOCKED
