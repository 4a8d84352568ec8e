-- One job by id, within a tenant when one is given.
SELECT * FROM conveyor_jobs WHERE id = %(id)s::uuid AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
