-- Pipelines, finished (issue 13): a per-run version number every API process reads the same, and
-- retention of finished runs.
--
-- version: bumped by every change of the run's row (state, status, error). events: how many counter
-- deltas of the cell have been folded. A run's live version is version + sum(events) + its deltas
-- not folded yet, read in one snapshot: it never goes down, and it goes up with every counted job
-- change, so a WebSocket client that reconnects to another API process can tell an older message
-- from a newer one.
ALTER TABLE pipeline_runs ADD COLUMN version bigint NOT NULL DEFAULT 0;
ALTER TABLE pipeline_stage_counts ADD COLUMN events bigint NOT NULL DEFAULT 0;

-- Retention: finished runs are pruned by finished_at.
CREATE INDEX pipeline_runs_finished ON pipeline_runs (finished_at) WHERE state IN ('FINISHED', 'FAILED', 'CANCELLED');
-- Raw rows saved outside a run are pruned by age.
CREATE INDEX raw_extraction_data_unlinked ON raw_extraction_data (created_at) WHERE run_id IS NULL;
