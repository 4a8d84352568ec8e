-- Remember since when each of the queues (a JSON array) is stranded.
INSERT INTO conveyor_queues (name, stranded_since) SELECT value, :now FROM json_each(:queues) WHERE true
ON CONFLICT (name) DO UPDATE SET stranded_since = coalesce(stranded_since, excluded.stranded_since)
