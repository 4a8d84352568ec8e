-- Every queue with a row of its own, and whether it is paused.
SELECT name, paused FROM conveyor_queues
