-- (tenant, key) -> id and state of the jobs holding these idempotency keys (bulk enqueue).
SELECT tenant, idempotency_key, id::text, state FROM conveyor_jobs
WHERE (tenant, idempotency_key) IN (SELECT * FROM unnest(%(tenants)s::text[], %(keys)s::text[]))
