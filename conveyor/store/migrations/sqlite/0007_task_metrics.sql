-- Per-minute figures per task, written with each completion batch: see the PostgreSQL migration
-- 0007. minute is unix seconds (a multiple of 60).
CREATE TABLE conveyor_task_minutes (
    minute       REAL NOT NULL,
    tenant       TEXT NOT NULL,
    queue        TEXT NOT NULL,
    task         TEXT NOT NULL,
    worker_id    TEXT NOT NULL,
    succeeded    INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    duration_sum REAL NOT NULL DEFAULT 0,
    duration_max REAL NOT NULL DEFAULT 0,
    pickup_n     INTEGER NOT NULL DEFAULT 0,
    pickup_sum   REAL NOT NULL DEFAULT 0,
    pickup_max   REAL NOT NULL DEFAULT 0,
    d00 INTEGER NOT NULL DEFAULT 0, d01 INTEGER NOT NULL DEFAULT 0, d02 INTEGER NOT NULL DEFAULT 0,
    d03 INTEGER NOT NULL DEFAULT 0, d04 INTEGER NOT NULL DEFAULT 0, d05 INTEGER NOT NULL DEFAULT 0,
    d06 INTEGER NOT NULL DEFAULT 0, d07 INTEGER NOT NULL DEFAULT 0, d08 INTEGER NOT NULL DEFAULT 0,
    d09 INTEGER NOT NULL DEFAULT 0, d10 INTEGER NOT NULL DEFAULT 0, d11 INTEGER NOT NULL DEFAULT 0,
    d12 INTEGER NOT NULL DEFAULT 0, d13 INTEGER NOT NULL DEFAULT 0, d14 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, tenant, queue, task, worker_id)
);
