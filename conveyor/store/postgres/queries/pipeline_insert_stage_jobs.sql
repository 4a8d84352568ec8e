-- Write a batch of pipeline stage jobs with COPY (one statement for any number of emits).
COPY conveyor_jobs (id, task, queue, priority, tenant, args, state, max_attempts, timeout, token, parent_id, meta, pipeline_run_id, step, stage, finished_at) FROM STDIN
