-- The conditions a job filter combines (list_jobs, requeue_dead, purge_dead), one per line as
-- "name: condition"; store/filters.py picks those whose filter field is set and joins them with AND.
states: state = ANY(%(states)s)
queue: queue = %(queue)s
task: task = %(task)s
tenant: tenant = %(tenant)s
token: token = %(token)s
chain_root: (token = %(token)s OR (token IS NULL AND id = %(chain_root)s::uuid))
parent_id: parent_id = %(parent_id)s::uuid
error_contains: error ILIKE %(error_contains)s
created_after: created_at >= %(created_after)s
created_before: created_at < %(created_before)s
before: id < %(before)s::uuid
