-- Delete a schedule (its fire rows go with it).
DELETE FROM conveyor_schedules WHERE id = %(id)s RETURNING id
