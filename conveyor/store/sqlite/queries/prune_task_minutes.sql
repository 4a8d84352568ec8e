-- Forget per-minute task figures older than :kept seconds.
DELETE FROM conveyor_task_minutes WHERE minute < :now - :kept
