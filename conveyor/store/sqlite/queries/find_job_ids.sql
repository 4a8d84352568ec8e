-- Ids that start or end with a fragment, newest first (interactive look-ups only, the CLI).
SELECT id FROM conveyor_jobs WHERE id LIKE :prefix OR id LIKE :suffix ORDER BY id DESC LIMIT :limit
