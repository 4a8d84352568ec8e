-- This transaction counts its stage jobs' state changes itself (pipeline_count_finished): the
-- counting trigger skips them (migration 0018). Local: gone at commit or rollback.
SELECT set_config('conveyor.counted', 'batch', true)
