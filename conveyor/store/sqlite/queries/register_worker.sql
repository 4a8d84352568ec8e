-- A worker process announces itself (state running, heartbeat now) with its wake-up socket's address.
INSERT INTO conveyor_workers (id, hostname, pid, queues, concurrency, version, started_at, last_heartbeat, state,
                              wake_address)
VALUES (:id, :hostname, :pid, :queues, :concurrency, :version, :now, :now, 'running', :wake_address)
