-- Whether any of the queues (a JSON array) has a ready job: a read, so an idle worker's poll
-- takes no write lock. The ready index, probed per queue: left to itself the planner walks the
-- state index newest first, through every queued job of other queues (say the backlog of a
-- pipeline's next stage) before it finds one of these.
SELECT 1 FROM json_each(:queues) AS q
WHERE EXISTS (SELECT 1 FROM conveyor_jobs AS j INDEXED BY conveyor_jobs_ready
              WHERE j.queue = q.value AND j.state = 'queued')
LIMIT 1
