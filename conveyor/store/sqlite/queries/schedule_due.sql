-- Active schedules whose next fire time has come, the most overdue first.
SELECT * FROM conveyor_schedules WHERE active = 1 AND next_fire_at <= :now ORDER BY next_fire_at LIMIT :limit
