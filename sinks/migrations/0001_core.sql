-- Internal state of the sink: never read by reporting systems (they see schema `reporting`).
--
-- Exactly once (CONTRACT.md §5.2) rests on sink_offsets: a batch's entity changes, aggregate
-- deltas, dead letters and counters commit in the same transaction as the next offset of every
-- partition it consumed, and a batch skips offsets below the stored one.

CREATE SCHEMA IF NOT EXISTS core;

-- Settings the SQL side needs (the time zone that defines "today").
CREATE TABLE core.config (
    key   text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO core.config (key, value) VALUES ('timezone', 'Asia/Ho_Chi_Minh');

CREATE FUNCTION core.today() RETURNS date
LANGUAGE sql STABLE
AS $$ SELECT (now() AT TIME ZONE (SELECT value FROM core.config WHERE key = 'timezone'))::date $$;

-- The next offset to apply, per consumed partition.
CREATE TABLE core.sink_offsets (
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- Per input topic: consumed = applied + unchanged + dead_lettered (CONTRACT.md §6).
CREATE TABLE core.topic_counters (
    topic         text   PRIMARY KEY,
    applied       bigint NOT NULL DEFAULT 0,
    unchanged     bigint NOT NULL DEFAULT 0,
    dead_lettered bigint NOT NULL DEFAULT 0
);

-- The current revision of every entity, whatever its type. `contributions` is what it adds to
-- core.metric_daily now ([unit, day, metric, dimension, amount] rows), so the next revision
-- takes back exactly that. `record` holds every field, including personal data
-- (recipient_name) that reporting never exposes.
CREATE TABLE core.entities (
    entity_type   text        NOT NULL,
    entity_id     text        NOT NULL,
    revision      integer     NOT NULL,
    voided        boolean     NOT NULL,
    event_id      text        NOT NULL,
    record        jsonb       NOT NULL,
    contributions jsonb       NOT NULL DEFAULT '[]',
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_type, entity_id)
);

-- Aggregates by recorded unit (attribution through mergers happens at read time).
CREATE TABLE core.metric_daily (
    unit_id   text   NOT NULL,
    day       date   NOT NULL,
    metric    text   NOT NULL,
    dimension text   NOT NULL DEFAULT '',
    value     bigint NOT NULL,
    PRIMARY KEY (unit_id, day, metric, dimension)
);

-- Dead letters, written with the batch (an outbox) and relayed to the dead-letter topic after
-- the commit; sent_at/dlq_* record the relay, so a crash between the two re-sends nothing twice.
CREATE TABLE core.dead_letters (
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    "offset"      bigint      NOT NULL,
    key           bytea,
    value         bytea,
    reason        text        NOT NULL,
    detail        text        NOT NULL,
    failed_at     timestamptz NOT NULL,
    dlq_partition integer     NOT NULL,
    dlq_offset    bigint,
    sent_at       timestamptz,
    PRIMARY KEY (topic, partition, "offset")
);
CREATE INDEX dead_letters_unsent ON core.dead_letters (dlq_partition) WHERE sent_at IS NULL;

-- When the sink last committed, per worker (for `vanphong status`).
CREATE TABLE core.sink_commits (
    worker_id      text        PRIMARY KEY,
    last_commit_at timestamptz NOT NULL,
    batches        bigint      NOT NULL DEFAULT 0,
    events         bigint      NOT NULL DEFAULT 0
);
