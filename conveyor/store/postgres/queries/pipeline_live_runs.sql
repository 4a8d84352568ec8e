-- Which of these runs are RUNNING, share-locked so a cancel waits for the emits being written.
SELECT id FROM pipeline_runs WHERE id = ANY(%s::uuid[]) AND state = 'RUNNING' ORDER BY id FOR SHARE
