-- Every schedule, by tenant and name (a small table: filtered by the caller).
SELECT * FROM conveyor_schedules ORDER BY tenant, name
