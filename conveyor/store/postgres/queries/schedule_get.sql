-- One schedule by id.
SELECT * FROM conveyor_schedules WHERE id = %(id)s
