-- Remember since when each of queues is stranded; queues no longer stranded are cleared.
WITH cleared AS (
    UPDATE conveyor_queues SET stranded_since = NULL
    WHERE stranded_since IS NOT NULL AND NOT (name = ANY(%(queues)s::text[]))
)
INSERT INTO conveyor_queues (name, stranded_since) SELECT unnest(%(queues)s::text[]), now()
ON CONFLICT (name) DO UPDATE SET stranded_since = coalesce(conveyor_queues.stranded_since, now())
