-- Offsets that go backwards or jump (vanphong/core/positions.py; docs/operations.md, "Offsets that
-- go backwards or jump").
--
-- A stored next offset means something only for the topic it was read from: a topic deleted
-- and created again under the same name restarts at offset 0 with a new topic id. Each row now
-- names its topic's id (NULL until a worker has resumed the partition since this migration),
-- and may hold a pending rewind: the offset the worker's consumer must go back to before the
-- partition's records count again (set when a consumer resumed ahead of PostgreSQL while the
-- messages in between were still in the log).
ALTER TABLE core.sink_offsets
    ADD COLUMN topic_id  uuid,
    ADD COLUMN rewind_to bigint;

-- What the workers detected, kept so that `vanphong status` shows it after the fact.
-- kind: topic_recreated (the stored offset was reset and the partition read from its
-- beginning), messages_lost (`lost` messages were deleted by retention before they were
-- applied), partitions_added (a partition beyond the contract's count, consumed from its start).
CREATE TABLE core.offset_anomalies (
    id                  bigserial   PRIMARY KEY,
    detected_at         timestamptz NOT NULL DEFAULT now(),
    kind                text        NOT NULL
        CHECK (kind IN ('topic_recreated', 'messages_lost', 'partitions_added')),
    topic               text        NOT NULL,
    partition           integer     NOT NULL,
    stored_offset       bigint,     -- the stored next offset when it was detected
    resumed_at          bigint,     -- where the consumer (re)started reading
    log_start           bigint,
    log_end             bigint,
    lost                bigint      NOT NULL DEFAULT 0,
    old_topic_id        uuid,
    new_topic_id        uuid,
    partitions          integer,    -- the topic's partition count in Kafka
    contract_partitions integer,
    worker_id           text,
    detail              text        NOT NULL
);
CREATE INDEX offset_anomalies_recent ON core.offset_anomalies (detected_at DESC);
-- An added partition is reported once, not at every rebalance.
CREATE UNIQUE INDEX offset_anomalies_added_once ON core.offset_anomalies (topic, partition)
    WHERE kind = 'partitions_added';
