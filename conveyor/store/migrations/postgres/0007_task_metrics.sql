-- Per-minute figures per task, written with each completion batch (the FINISH statement) so that
-- the Metrics page and GET /api/metrics/tasks never scan the jobs table. One row per minute,
-- tenant, queue, task and worker (the worker in the key so that workers finishing at the same
-- moment never wait on each other's row); pruned after 8 days by the maintenance pass.
--
-- Durations go into a fixed histogram (task_metrics.DURATION_BOUNDS, seconds): d00 counts
-- attempts shorter than 5 ms, d14 those of 300 s and more; p50/p95 are read from it.
CREATE TABLE conveyor_task_minutes (
    minute       timestamptz NOT NULL,
    tenant       text NOT NULL,
    queue        text NOT NULL,
    task         text NOT NULL,
    worker_id    text NOT NULL,
    succeeded    bigint NOT NULL DEFAULT 0,
    failed       bigint NOT NULL DEFAULT 0,
    duration_sum double precision NOT NULL DEFAULT 0,
    duration_max double precision NOT NULL DEFAULT 0,
    pickup_n     bigint NOT NULL DEFAULT 0,
    pickup_sum   double precision NOT NULL DEFAULT 0,
    pickup_max   double precision NOT NULL DEFAULT 0,
    d00 bigint NOT NULL DEFAULT 0, d01 bigint NOT NULL DEFAULT 0, d02 bigint NOT NULL DEFAULT 0,
    d03 bigint NOT NULL DEFAULT 0, d04 bigint NOT NULL DEFAULT 0, d05 bigint NOT NULL DEFAULT 0,
    d06 bigint NOT NULL DEFAULT 0, d07 bigint NOT NULL DEFAULT 0, d08 bigint NOT NULL DEFAULT 0,
    d09 bigint NOT NULL DEFAULT 0, d10 bigint NOT NULL DEFAULT 0, d11 bigint NOT NULL DEFAULT 0,
    d12 bigint NOT NULL DEFAULT 0, d13 bigint NOT NULL DEFAULT 0, d14 bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, tenant, queue, task, worker_id)
);
