-- Names of paused queues.
SELECT name FROM conveyor_queues WHERE paused
