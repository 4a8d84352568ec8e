-- Forget completion counters older than kept seconds, and deleted-job records older than
-- deletions_kept (PostgreSQL keeps none: deletions are announced by NOTIFY).
DELETE FROM conveyor_completions WHERE bucket < now() - make_interval(secs => %(kept)s)
