-- Ids of the runs not finished yet (READY or RUNNING).
SELECT id FROM pipeline_runs WHERE state IN ('READY', 'RUNNING')
