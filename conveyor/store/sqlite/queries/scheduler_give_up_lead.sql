-- Stop leading (a clean shutdown): the next scheduler takes over at its next pass.
DELETE FROM conveyor_scheduler_lease WHERE name = 'scheduler' AND owner = :owner RETURNING 1 AS released
