-- One schedule by tenant and name.
SELECT * FROM conveyor_schedules WHERE tenant = :tenant AND name = :name
