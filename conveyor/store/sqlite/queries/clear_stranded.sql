-- Queues not in the stranded list (a JSON array) are no longer stranded.
UPDATE conveyor_queues SET stranded_since = NULL
WHERE stranded_since IS NOT NULL AND name NOT IN (SELECT value FROM json_each(:queues))
