-- Fires claimed but never dispatched (the scheduler died in between): dispatched again.
SELECT schedule_id, fire_at FROM conveyor_schedule_fires WHERE outcome IS NULL AND claimed_at < :cutoff
ORDER BY claimed_at LIMIT 100
