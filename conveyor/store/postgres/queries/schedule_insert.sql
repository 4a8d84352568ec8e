-- A new schedule (declared in code or created at run time); a name the tenant already has is refused by the unique key.
INSERT INTO conveyor_schedules (id, tenant, name, target_kind, target, cron, interval_seconds, timezone, args, kwargs, misfire, misfire_max, active, in_code, next_fire_at, created_at, updated_at)
VALUES (%(id)s, %(tenant)s, %(name)s, %(target_kind)s, %(target)s, %(cron)s, %(interval_seconds)s, %(timezone)s,
        %(args)s::jsonb, %(kwargs)s::jsonb, %(misfire)s, %(misfire_max)s, %(active)s, %(in_code)s, %(next_fire_at)s,
        %(now)s, %(now)s)
