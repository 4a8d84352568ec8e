-- Delete the dead-letter jobs matching the filter {where}.
DELETE FROM conveyor_jobs WHERE {where} RETURNING id, queue
