-- Change a schedule's target, timing, arguments or active flag, with its next fire time recomputed.
UPDATE conveyor_schedules
SET target_kind = %(target_kind)s, target = %(target)s, cron = %(cron)s, interval_seconds = %(interval_seconds)s,
    timezone = %(timezone)s, args = %(args)s::jsonb, kwargs = %(kwargs)s::jsonb, misfire = %(misfire)s,
    misfire_max = %(misfire_max)s, active = %(active)s, in_code = %(in_code)s, next_fire_at = %(next_fire_at)s,
    updated_at = %(now)s
WHERE id = %(id)s
