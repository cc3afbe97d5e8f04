-- When PostgreSQL goes back in time (vanphong/core/positions.py, "the database went back in
-- time"; docs/operations.md, "Failover and restores").
--
-- An asynchronous standby promoted after the primary died, a restored backup or a point-in-time
-- restore lacks the last commits: its stored offsets are behind a worker that never stopped
-- reading. The worker fences every batch against them, goes back to the stored offset and reads
-- again what the database lost; each such finding is kept here, with the stored offset
-- (stored_offset), where the worker stood (resumed_at) and how many messages it read again.
ALTER TABLE core.offset_anomalies
    DROP CONSTRAINT offset_anomalies_kind_check,
    ADD CONSTRAINT offset_anomalies_kind_check CHECK (
        kind IN ('topic_recreated', 'messages_lost', 'partitions_added', 'database_behind')),
    ADD COLUMN reread bigint NOT NULL DEFAULT 0;
