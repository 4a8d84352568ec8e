-- Every insert and every state change writes to every index of conveyor_jobs (a state change is
-- never a HOT update), so an index earns its place. (state, created_at) served only the few
-- dead and failed rows; a partial index does that without a write per claim and completion.
CREATE INDEX conveyor_jobs_dead ON conveyor_jobs (created_at DESC, id DESC) WHERE state IN ('dead', 'failed');
DROP INDEX conveyor_jobs_state_created;
