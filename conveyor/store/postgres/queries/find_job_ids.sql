-- Ids that start or end with a fragment, newest first (interactive look-ups, the CLI). The start
-- is a range of the primary key read newest first up to the limit (low/high NULL when the
-- fragment cannot start an id). The end (suffix NULL when the fragment cannot end an id) reads
-- the ids newest first until the limit is found or the ids run out: no index serves a tail.
-- Indexes on the tail (reversed, or after the time part) cost bulk enqueue 10-25 percent of its jobs/s
-- in interleaved runs (issue #20), too much for the sake of an interactive CLI look-up.
SELECT id::text AS id FROM (
    (SELECT id FROM conveyor_jobs WHERE id BETWEEN %(low)s::uuid AND %(high)s::uuid
     ORDER BY id DESC LIMIT %(limit)s)
    UNION
    (SELECT id FROM conveyor_jobs WHERE %(suffix)s::text IS NOT NULL AND id::text LIKE %(suffix)s
     ORDER BY id DESC LIMIT %(limit)s)
) found
ORDER BY id DESC LIMIT %(limit)s
