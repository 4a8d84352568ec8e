-- The conditions a job filter combines (list_jobs, requeue_dead, purge_dead), one per line as
-- "name: condition"; store/filters.py picks those whose filter field is set and joins them with AND.
states: state IN (SELECT value FROM json_each(:states))
queue: queue = :queue
task: task = :task
tenant: tenant = :tenant
token: token = :token
chain_root: (token = :token OR (token IS NULL AND id = :chain_root))
parent_id: parent_id = :parent_id
error_contains: error LIKE :error_contains ESCAPE '\'
created_after: created_at >= :created_after
created_before: created_at < :created_before
before: id < :before
