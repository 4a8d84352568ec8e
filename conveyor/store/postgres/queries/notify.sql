-- Send notifications (channel c, payload p): one VALUES row of two parameters per notice, the
-- list built by channels.notify for the batch at hand (each payload a plain text parameter: see there).
SELECT pg_notify(c, p) FROM (VALUES {values}) AS v(c, p)
