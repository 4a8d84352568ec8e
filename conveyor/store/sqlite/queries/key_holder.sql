-- The job that holds a tenant's idempotency key.
SELECT id, state FROM conveyor_jobs WHERE tenant = :tenant AND idempotency_key = :idempotency_key
