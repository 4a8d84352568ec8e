-- Move a schedule to its next fire time, only if no other scheduler moved it meanwhile.
UPDATE conveyor_schedules SET next_fire_at = :next_fire_at
WHERE id = :id AND next_fire_at = :old_fire_at RETURNING id
