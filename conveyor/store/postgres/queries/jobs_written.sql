-- State and queue of jobs by id: what a bulk enqueue wrote when its reply was lost after commit.
SELECT id::text, state, queue FROM conveyor_jobs WHERE id = ANY(%(ids)s::uuid[])
