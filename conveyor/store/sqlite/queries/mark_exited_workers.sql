-- Workers whose lock file was found free (JSON array of [id, file name]) are declared dead,
-- 'exited', unless they took another lock or changed state meanwhile.
UPDATE conveyor_workers SET state = 'dead', stopped_at = :now, detected_by = 'exited'
WHERE state NOT IN ('stopped', 'dead')
  AND EXISTS (SELECT 1 FROM json_each(:exited) e
              WHERE json_extract(e.value, '$[0]') = conveyor_workers.id
                AND json_extract(e.value, '$[1]') = conveyor_workers.lock_key)
RETURNING id
