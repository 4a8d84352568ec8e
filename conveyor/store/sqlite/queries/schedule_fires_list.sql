-- The latest fires of one schedule.
SELECT * FROM conveyor_schedule_fires WHERE schedule_id = :id ORDER BY fire_at DESC LIMIT :limit
