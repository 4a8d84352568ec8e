-- Ids that start or end with a fragment, newest first (interactive look-ups only, the CLI: a
-- suffix cannot use the id index, so this scans).
SELECT id::text AS id FROM conveyor_jobs WHERE id::text LIKE %(prefix)s OR id::text LIKE %(suffix)s
ORDER BY id DESC LIMIT %(limit)s
