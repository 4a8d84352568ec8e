-- Change a schedule's target, timing, arguments or active flag, with its next fire time recomputed.
UPDATE conveyor_schedules
SET target_kind = :target_kind, target = :target, cron = :cron, interval_seconds = :interval_seconds,
    timezone = :timezone, args = :args, kwargs = :kwargs, misfire = :misfire, misfire_max = :misfire_max,
    active = :active, in_code = :in_code, next_fire_at = :next_fire_at, updated_at = :now
WHERE id = :id
