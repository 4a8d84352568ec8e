-- Forget completion counters older than :kept seconds.
DELETE FROM conveyor_completions WHERE bucket < :now - :kept
