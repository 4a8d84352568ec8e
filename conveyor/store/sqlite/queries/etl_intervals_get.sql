-- Every tenant's own orchestrator intervals (tenants without a row use the defaults).
SELECT tenant, fast_interval, full_interval FROM etl_tenant_intervals
