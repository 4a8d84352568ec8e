-- Stop leading (a clean shutdown): the next scheduler takes over at its next pass.
SELECT pg_advisory_unlock(7317733) AS released
