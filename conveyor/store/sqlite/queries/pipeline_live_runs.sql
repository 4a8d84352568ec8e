-- Which of these runs are RUNNING (one placeholder per run, composed in Python).
SELECT id FROM pipeline_runs WHERE id IN ({marks}) AND state = 'RUNNING'
