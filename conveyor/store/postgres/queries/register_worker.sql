-- A worker process announces itself (state running, heartbeat now).
INSERT INTO conveyor_workers (id, hostname, pid, queues, concurrency, version, state)
VALUES (%(id)s, %(hostname)s, %(pid)s, %(queues)s, %(concurrency)s, %(version)s, 'running')
