-- A page of jobs, newest (highest UUIDv7 id) first; {where} is the filter built by store/filters.py.
SELECT * FROM conveyor_jobs WHERE {where} ORDER BY id DESC LIMIT %(limit)s
