-- Claim one (schedule, fire time): a second scheduler's insert of the same pair is a no-op.
INSERT INTO conveyor_schedule_fires (schedule_id, fire_at, claimed_at) VALUES (%(id)s, %(fire_at)s, %(now)s)
ON CONFLICT (schedule_id, fire_at) DO NOTHING RETURNING schedule_id
