-- Record how one attempt ended; only a row still leased with that token changes. A parked
-- attempt (ParkJob) and a handed-back job get their attempt back.
UPDATE conveyor_jobs
SET state = :state, result = :result, error = :error, traceback = :traceback,
    finished_at = CASE WHEN :state IN ('completed', 'dead', 'cancelled') THEN :now END,
    run_at = CASE WHEN :state = 'scheduled' THEN :now + :delay ELSE run_at END,
    queued_at = CASE WHEN :state = 'queued' THEN :now ELSE queued_at END,
    attempts = CASE WHEN :state = 'queued' OR json_extract(:entry, '$.outcome') = 'parked' THEN attempts - 1
                    ELSE attempts END,
    attempt_log = CASE WHEN :entry IS NULL THEN attempt_log
                       ELSE json_insert(attempt_log, '$[#]', json(:entry)) END,
    lease_token = NULL, deadline = NULL, cancel_requested = 0, updated_at = :now
WHERE id = :id AND lease_token = :lease AND state = 'running'
RETURNING queue, tenant, worker_id, task, started_at, queued_at
