-- Set one tenant's orchestrator intervals.
INSERT INTO etl_tenant_intervals (tenant, fast_interval, full_interval) VALUES (%(tenant)s, %(fast)s, %(full)s)
ON CONFLICT (tenant) DO UPDATE SET fast_interval = excluded.fast_interval, full_interval = excluded.full_interval
