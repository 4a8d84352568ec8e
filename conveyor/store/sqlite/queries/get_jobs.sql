-- Many jobs by id (a JSON array) in one statement; unknown ids are left out.
SELECT * FROM conveyor_jobs WHERE id IN (SELECT value FROM json_each(:ids))
