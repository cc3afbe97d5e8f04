-- `vanphong dlq replay`: which dead letters were re-published, so none is replayed twice.
--
-- A dead letter is identified by its place on the dead-letter topic. A row is written (and
-- committed) *before* its message is produced, with new_offset NULL: such a row is "in doubt".
-- The next replay resolves it by reading the target partition from scan_from for a message
-- whose header `vanphong.replay.of` names this dead letter: found, the offset is recorded;
-- absent, the message is produced then. So even a crash between produce and commit sends
-- nothing twice.
CREATE TABLE core.dlq_replays (
    dlq_partition    integer     NOT NULL,
    dlq_offset       bigint      NOT NULL,
    reason           text        NOT NULL,
    source_topic     text        NOT NULL,
    source_partition integer     NOT NULL,
    source_offset    bigint      NOT NULL,
    target_partition integer     NOT NULL, -- where the replay is produced (the source partition)
    scan_from        bigint      NOT NULL, -- target partition's end offset before producing
    started_at       timestamptz NOT NULL DEFAULT now(),
    replayed_at      timestamptz,
    new_offset       bigint,
    PRIMARY KEY (dlq_partition, dlq_offset)
);
CREATE INDEX dlq_replays_in_doubt ON core.dlq_replays (dlq_partition) WHERE new_offset IS NULL;
-- To tell a dead letter of a replayed message ("replayed, rejected again") from a first one.
CREATE INDEX dlq_replays_new_place ON core.dlq_replays (source_topic, target_partition, new_offset);
