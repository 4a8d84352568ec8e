-- Forget workers stopped or dead for longer than :kept seconds.
DELETE FROM conveyor_workers WHERE state IN ('stopped', 'dead') AND coalesce(stopped_at, last_heartbeat) < :now - :kept
