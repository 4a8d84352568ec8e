-- Move a schedule to its next fire time, only if no other scheduler moved it meanwhile.
UPDATE conveyor_schedules SET next_fire_at = %(next_fire_at)s
WHERE id = %(id)s AND next_fire_at = %(old_fire_at)s RETURNING id
