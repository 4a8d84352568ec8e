-- One job by id, within a tenant when one is given.
SELECT * FROM conveyor_jobs WHERE id = :id AND (:tenant IS NULL OR tenant = :tenant)
