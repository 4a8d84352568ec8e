-- Ids that start or end with a fragment, newest first (interactive look-ups, the CLI). The start
-- is a range of the primary key (low/high NULL when the fragment cannot start an id); the end is
-- matched by LIKE, which reads the ids (see the PostgreSQL statement for why no index serves tails).
SELECT id FROM conveyor_jobs WHERE id BETWEEN :low AND :high OR id LIKE :suffix
ORDER BY id DESC LIMIT :limit
