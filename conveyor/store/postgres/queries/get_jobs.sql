-- Many jobs by id in one round trip; unknown ids are left out.
SELECT * FROM conveyor_jobs WHERE id = ANY(%(ids)s::uuid[])
