-- The state of one worker's row (none: not registered, or pruned).
SELECT state FROM conveyor_workers WHERE id = %(id)s
