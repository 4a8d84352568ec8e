-- Forget deleted-job records (read by the event pollers) older than :deletions_kept seconds.
DELETE FROM conveyor_deletions WHERE deleted_at < :now - :deletions_kept
