-- The read side at national scale (issue 13; docs/performance.md, "The read side").
--
-- Same objects, names, columns and grants as 0002/0003, same semantics (CONTRACT.md §5.4, §7):
-- aggregates stay by recorded unit and attribution is still decided when a view is read. What
-- changes is how a read finds its cells. Before, every view joined *all* of core.metric_daily
-- to the recursive attribution view and computed each row's unit, so a question about one
-- office or one year read the whole history. Now:
--
-- 1. The merger graph is resolved once per change, not once per read: core.attribution_ranges
--    holds exactly what the view core.attribution computes (per absorbed unit, the unit its
--    activity belongs to over each range of days), refreshed by a trigger in the transaction
--    that writes a merger (so a merger that arrives years late re-attributes history at its
--    commit, and nothing else is rewritten). About a thousand rows at national scale.
-- 2. Views split each basis in two: the cells that stay with the unit that recorded them, and
--    the cells that a range moves to another unit, joined to it through core.metric_daily's
--    primary key. A filter on the unit or on the day then reaches the index in both parts.
-- 3. Months: an index on (unit_id, month of day), a BRIN on the month of day (rows arrive
--    roughly in day order), so "these units, these months" and "every unit, this year" read
--    those months only. Monthly views group by exactly that expression.
-- 4. reporting.units finds the units with activity by one index probe per unit (a skip scan)
--    instead of reading every cell; reporting.tasks finds one unit's tasks by an index on the
--    assignee.

-- 1. The resolved merger graph --------------------------------------------------------------

CREATE TABLE core.attribution_ranges (
    unit_id        text    NOT NULL,  -- the recorded (absorbed) unit
    target_unit_id text    NOT NULL,  -- the unit its activity belongs to over the range
    valid_from     date    NOT NULL,
    valid_to       date    NOT NULL,  -- inclusive; may be before valid_from (an empty step)
    depth          integer NOT NULL   -- 0: the unit itself, n: n mergers down its chain
);
CREATE INDEX attribution_ranges_unit ON core.attribution_ranges (unit_id, valid_from);
CREATE INDEX attribution_ranges_target ON core.attribution_ranges (target_unit_id);

-- Rebuilds the table from core.attribution, once per transaction that wrote a merger (the
-- triggers below are deferred to the commit, when every merger of the batch is written).
-- Mergers are written by one writer at a time (one partition), but the advisory lock makes
-- two refreshes take turns whatever happens: the second one's statements then see the first.
-- core.attribution's row estimates are far too high (a recursive CTE over jsonb arrays), so
-- JIT would compile it for ~0.6 s: off here.
CREATE FUNCTION core.refresh_attribution_ranges() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog SET jit = off
AS $$
BEGIN
    IF current_setting('vanphong.attribution_refreshed_in', true)
       IS NOT DISTINCT FROM txid_current()::text THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('vanphong.attribution_refreshed_in', txid_current()::text, true);
    PERFORM pg_advisory_xact_lock(hashtextextended('vanphong.attribution_ranges', 0));
    DELETE FROM core.attribution_ranges;
    INSERT INTO core.attribution_ranges (unit_id, target_unit_id, valid_from, valid_to, depth)
    SELECT unit_id, target_unit_id, valid_from, valid_to, depth FROM core.attribution;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER attribution_ranges_on_merger
    AFTER INSERT OR UPDATE ON core.entities
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.entity_type = 'office.merged')
    EXECUTE FUNCTION core.refresh_attribution_ranges();
CREATE CONSTRAINT TRIGGER attribution_ranges_on_merger_deleted
    AFTER DELETE ON core.entities
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.entity_type = 'office.merged')
    EXECUTE FUNCTION core.refresh_attribution_ranges();

SET LOCAL jit = off;
INSERT INTO core.attribution_ranges (unit_id, target_unit_id, valid_from, valid_to, depth)
SELECT unit_id, target_unit_id, valid_from, valid_to, depth FROM core.attribution;
ANALYZE core.attribution_ranges;

-- Where an absorbed unit's whole history is consolidated: as 0002's view, from the table.
CREATE OR REPLACE VIEW core.final_units AS
SELECT DISTINCT ON (unit_id) unit_id, target_unit_id AS final_unit_id
FROM core.attribution_ranges
WHERE valid_from <= (SELECT core.today())
ORDER BY unit_id, depth DESC;

-- 2. Cells by the unit they belong to ------------------------------------------------------
--
-- Each view in two parts: the cells that stay with the unit that recorded them (no range
-- covering their day sends them elsewhere), and the cells that move, joined to the ranges that
-- move them. An absorbed unit's ranges partition all of time (from -infinity, each up to the
-- next one's start, the last to infinity), so exactly one covers each day, and a cell moves iff
-- that one's target is another unit: the same rows as 0002's LEFT JOIN, but a filter on the
-- unit or the day now reaches core.metric_daily's indexes in both parts. In the second part,
-- `m.unit_id = ANY (ARRAY(...))` says again that only the moving units' cells are wanted, as
-- one index scan over those units: without it, a question about every unit (a national year)
-- read the period's cells twice, once per part, the planner not knowing that absorbed units
-- have little activity left.

-- Attributed on their day.
CREATE OR REPLACE VIEW core.metric_attributed AS
SELECT m.unit_id, m.day, m.metric, m.dimension, m.value
FROM core.metric_daily m
WHERE NOT EXISTS (
    SELECT FROM core.attribution_ranges a
    WHERE a.unit_id = m.unit_id AND m.day BETWEEN a.valid_from AND a.valid_to
      AND a.target_unit_id <> a.unit_id
)
UNION ALL
SELECT a.target_unit_id, m.day, m.metric, m.dimension, m.value
FROM core.attribution_ranges a
JOIN core.metric_daily m
  ON m.unit_id = a.unit_id AND m.day BETWEEN a.valid_from AND a.valid_to
WHERE a.target_unit_id <> a.unit_id
  AND m.unit_id = ANY (ARRAY(
      SELECT unit_id FROM core.attribution_ranges WHERE target_unit_id <> unit_id));

-- Consolidated: every cell of an absorbed unit belongs to its final unit today.
CREATE OR REPLACE VIEW core.metric_consolidated AS
SELECT m.unit_id, m.day, m.metric, m.dimension, m.value
FROM core.metric_daily m
WHERE NOT EXISTS (
    SELECT FROM core.final_units f WHERE f.unit_id = m.unit_id AND f.final_unit_id <> f.unit_id
)
UNION ALL
SELECT f.final_unit_id, m.day, m.metric, m.dimension, m.value
FROM core.final_units f
JOIN core.metric_daily m ON m.unit_id = f.unit_id
WHERE f.final_unit_id <> f.unit_id
  AND m.unit_id = ANY (ARRAY(
      SELECT unit_id FROM core.final_units WHERE final_unit_id <> unit_id));

-- 3. Months --------------------------------------------------------------------------------

-- The monthly views group by date_trunc('month', day::timestamp)::date (immutable; 0003's
-- date_trunc('month', day) went through timestamptz, which no index can hold). A filter on
-- `month` becomes a filter on this expression, which these indexes answer.
CREATE INDEX metric_daily_unit_month
    ON core.metric_daily (unit_id, (date_trunc('month', day::timestamp)::date));
CREATE INDEX metric_daily_month ON core.metric_daily
    USING brin ((date_trunc('month', day::timestamp)::date))
    WITH (pages_per_range = 32, autosummarize = on);
ANALYZE core.metric_daily;  -- statistics of the month expression, for the planner

-- 4. One unit's tasks ----------------------------------------------------------------------

CREATE INDEX entities_task_assignee ON core.entities ((record ->> 'unit_id'))
    WHERE entity_type = 'task.assigned';

-- The reporting views (CONTRACT.md §7): same names, columns and types --------------------

CREATE OR REPLACE VIEW reporting.unit_activity_daily AS
SELECT unit_id, day,
       coalesce(sum(value) FILTER (WHERE metric = 'documents_issued'), 0)::bigint        AS documents_issued,
       coalesce(sum(value) FILTER (WHERE metric = 'documents_appraised'), 0)::bigint     AS documents_appraised,
       coalesce(sum(value) FILTER (WHERE metric = 'meetings_held'), 0)::bigint           AS meetings_held,
       coalesce(sum(value) FILTER (WHERE metric = 'meeting_attendees'), 0)::bigint       AS meeting_attendees,
       coalesce(sum(value) FILTER (WHERE metric = 'receptions_held'), 0)::bigint         AS receptions_held,
       coalesce(sum(value) FILTER (WHERE metric = 'citizens_received'), 0)::bigint       AS citizens_received,
       coalesce(sum(value) FILTER (WHERE metric = 'petitions_received'), 0)::bigint      AS petitions_received,
       coalesce(sum(value) FILTER (WHERE metric = 'awards_granted'), 0)::bigint          AS awards_granted,
       coalesce(sum(value) FILTER (WHERE metric = 'awards_received'), 0)::bigint         AS awards_received,
       coalesce(sum(value) FILTER (WHERE metric = 'tasks_assigned'), 0)::bigint          AS tasks_assigned,
       coalesce(sum(value) FILTER (WHERE metric = 'tasks_completed_on_time'), 0)::bigint AS tasks_completed_on_time,
       coalesce(sum(value) FILTER (WHERE metric = 'tasks_completed_late'), 0)::bigint    AS tasks_completed_late
FROM core.metric_attributed
GROUP BY unit_id, day;

CREATE OR REPLACE VIEW reporting.unit_activity_consolidated_daily AS
SELECT unit_id, day,
       coalesce(sum(value) FILTER (WHERE metric = 'documents_issued'), 0)::bigint        AS documents_issued,
       coalesce(sum(value) FILTER (WHERE metric = 'documents_appraised'), 0)::bigint     AS documents_appraised,
       coalesce(sum(value) FILTER (WHERE metric = 'meetings_held'), 0)::bigint           AS meetings_held,
       coalesce(sum(value) FILTER (WHERE metric = 'meeting_attendees'), 0)::bigint       AS meeting_attendees,
       coalesce(sum(value) FILTER (WHERE metric = 'receptions_held'), 0)::bigint         AS receptions_held,
       coalesce(sum(value) FILTER (WHERE metric = 'citizens_received'), 0)::bigint       AS citizens_received,
       coalesce(sum(value) FILTER (WHERE metric = 'petitions_received'), 0)::bigint      AS petitions_received,
       coalesce(sum(value) FILTER (WHERE metric = 'awards_granted'), 0)::bigint          AS awards_granted,
       coalesce(sum(value) FILTER (WHERE metric = 'awards_received'), 0)::bigint         AS awards_received,
       coalesce(sum(value) FILTER (WHERE metric = 'tasks_assigned'), 0)::bigint          AS tasks_assigned,
       coalesce(sum(value) FILTER (WHERE metric = 'tasks_completed_on_time'), 0)::bigint AS tasks_completed_on_time,
       coalesce(sum(value) FILTER (WHERE metric = 'tasks_completed_late'), 0)::bigint    AS tasks_completed_late
FROM core.metric_consolidated
GROUP BY unit_id, day;

CREATE OR REPLACE VIEW reporting.unit_activity_monthly AS
SELECT unit_id, date_trunc('month', day::timestamp)::date AS month,
       coalesce(sum(value) FILTER (WHERE metric = 'documents_issued'), 0)::bigint        AS documents_issued,
       coalesce(sum(value) FILTER (WHERE metric = 'documents_appraised'), 0)::bigint     AS documents_appraised,
       coalesce(sum(value) FILTER (WHERE metric = 'meetings_held'), 0)::bigint           AS meetings_held,
       coalesce(sum(value) FILTER (WHERE metric = 'meeting_attendees'), 0)::bigint       AS meeting_attendees,
       coalesce(sum(value) FILTER (WHERE metric = 'receptions_held'), 0)::bigint         AS receptions_held,
       coalesce(sum(value) FILTER (WHERE metric = 'citizens_received'), 0)::bigint       AS citizens_received,
       coalesce(sum(value) FILTER (WHERE metric = 'petitions_received'), 0)::bigint      AS petitions_received,
       coalesce(sum(value) FILTER (WHERE metric = 'awards_granted'), 0)::bigint          AS awards_granted,
       coalesce(sum(value) FILTER (WHERE metric = 'awards_received'), 0)::bigint         AS awards_received,
       coalesce(sum(value) FILTER (WHERE metric = 'tasks_assigned'), 0)::bigint          AS tasks_assigned,
       coalesce(sum(value) FILTER (WHERE metric = 'tasks_completed_on_time'), 0)::bigint AS tasks_completed_on_time,
       coalesce(sum(value) FILTER (WHERE metric = 'tasks_completed_late'), 0)::bigint    AS tasks_completed_late
FROM core.metric_attributed
GROUP BY unit_id, date_trunc('month', day::timestamp)::date;

CREATE OR REPLACE VIEW reporting.unit_activity_consolidated_monthly AS
SELECT unit_id, date_trunc('month', day::timestamp)::date AS month,
       coalesce(sum(value) FILTER (WHERE metric = 'documents_issued'), 0)::bigint        AS documents_issued,
       coalesce(sum(value) FILTER (WHERE metric = 'documents_appraised'), 0)::bigint     AS documents_appraised,
       coalesce(sum(value) FILTER (WHERE metric = 'meetings_held'), 0)::bigint           AS meetings_held,
       coalesce(sum(value) FILTER (WHERE metric = 'meeting_attendees'), 0)::bigint       AS meeting_attendees,
       coalesce(sum(value) FILTER (WHERE metric = 'receptions_held'), 0)::bigint         AS receptions_held,
       coalesce(sum(value) FILTER (WHERE metric = 'citizens_received'), 0)::bigint       AS citizens_received,
       coalesce(sum(value) FILTER (WHERE metric = 'petitions_received'), 0)::bigint      AS petitions_received,
       coalesce(sum(value) FILTER (WHERE metric = 'awards_granted'), 0)::bigint          AS awards_granted,
       coalesce(sum(value) FILTER (WHERE metric = 'awards_received'), 0)::bigint         AS awards_received,
       coalesce(sum(value) FILTER (WHERE metric = 'tasks_assigned'), 0)::bigint          AS tasks_assigned,
       coalesce(sum(value) FILTER (WHERE metric = 'tasks_completed_on_time'), 0)::bigint AS tasks_completed_on_time,
       coalesce(sum(value) FILTER (WHERE metric = 'tasks_completed_late'), 0)::bigint    AS tasks_completed_late
FROM core.metric_consolidated
GROUP BY unit_id, date_trunc('month', day::timestamp)::date;

CREATE OR REPLACE VIEW reporting.documents_by_type_monthly AS
SELECT unit_id, date_trunc('month', day::timestamp)::date AS month, dimension AS doc_type,
       sum(value)::bigint AS documents_issued
FROM core.metric_attributed
WHERE metric = 'documents_issued'
GROUP BY unit_id, date_trunc('month', day::timestamp)::date, dimension;

CREATE OR REPLACE VIEW reporting.meetings_by_kind_monthly AS
SELECT unit_id, date_trunc('month', day::timestamp)::date AS month, dimension AS kind,
       coalesce(sum(value) FILTER (WHERE metric = 'meetings_held'), 0)::bigint     AS meetings_held,
       coalesce(sum(value) FILTER (WHERE metric = 'meeting_attendees'), 0)::bigint AS meeting_attendees
FROM core.metric_attributed
WHERE metric IN ('meetings_held', 'meeting_attendees')
GROUP BY unit_id, date_trunc('month', day::timestamp)::date, dimension;

-- Every unit that is registered, has activity, or takes part in a merger. Units with activity:
-- the next unit id with a non-zero cell, one probe of the index per unit (1,400 probes, not
-- 1.3 million rows). A unit's own merger is its step at depth 1 of core.attribution_ranges
-- (one per merger absorbing it, as 0003's join with core.merge_edges: into = that step's
-- target, effective date = its start); into units are the targets of those steps.
CREATE OR REPLACE VIEW reporting.units AS
WITH RECURSIVE active (unit_id) AS (
    SELECT min(unit_id) FROM core.metric_daily WHERE value <> 0
  UNION ALL
    SELECT (SELECT min(m.unit_id) FROM core.metric_daily m
            WHERE m.unit_id > a.unit_id AND m.value <> 0)
    FROM active a
    WHERE a.unit_id IS NOT NULL
), registered AS (
    SELECT entity_id AS unit_id, record
    FROM core.entities
    WHERE entity_type = 'unit.registered' AND NOT voided
), merged AS (
    SELECT unit_id, target_unit_id AS into_unit_id, valid_from AS effective_date
    FROM core.attribution_ranges
    WHERE depth = 1
), known AS (
    SELECT unit_id FROM registered
    UNION SELECT unit_id FROM active WHERE unit_id IS NOT NULL
    UNION SELECT unit_id FROM merged
    UNION SELECT into_unit_id FROM merged
)
SELECT k.unit_id,
       r.record ->> 'name'           AS name,
       r.record ->> 'kind'           AS kind,
       r.record ->> 'parent_unit_id' AS parent_unit_id,
       r.record ->> 'province'       AS province,
       r.unit_id IS NOT NULL          AS registered,
       CASE WHEN e.effective_date <= (SELECT core.today()) THEN 'merged' ELSE 'active' END AS status,
       e.into_unit_id                 AS merged_into,
       e.effective_date               AS merged_on,
       coalesce(f.final_unit_id, k.unit_id) AS final_unit_id
FROM known k
LEFT JOIN registered r USING (unit_id)
LEFT JOIN merged e ON e.unit_id = k.unit_id
LEFT JOIN core.final_units f ON f.unit_id = k.unit_id;

-- core.local_day and core.today inline (the time zone read once): a filter on the unit reaches
-- entities_task_assignee.
CREATE OR REPLACE VIEW reporting.tasks AS
SELECT a.entity_id                                                          AS task_id,
       a.record ->> 'unit_id'                                               AS unit_id,
       a.record ->> 'title'                                                 AS title,
       ((a.record ->> 'occurred_at')::timestamptz AT TIME ZONE z.tz)::date AS assigned_on,
       (a.record ->> 'due_date')::date                                      AS due_on,
       ((c.record ->> 'occurred_at')::timestamptz AT TIME ZONE z.tz)::date AS completed_on,
       CASE
           WHEN ((c.record ->> 'occurred_at')::timestamptz AT TIME ZONE z.tz)::date
                <= (a.record ->> 'due_date')::date THEN 'done_on_time'
           WHEN c.entity_id IS NOT NULL THEN 'done_late'
           WHEN (a.record ->> 'due_date')::date < (now() AT TIME ZONE z.tz)::date THEN 'overdue'
           ELSE 'open'
       END                                                                  AS status
FROM core.entities a
CROSS JOIN (SELECT (SELECT value FROM core.config WHERE key = 'timezone') AS tz) z
LEFT JOIN core.entities c
       ON c.entity_type = 'task.completed' AND c.entity_id = a.entity_id AND NOT c.voided
WHERE a.entity_type = 'task.assigned' AND NOT a.voided;

-- One office over a term: its own cells unless it was ever absorbed, plus the cells of the
-- units attributed (or consolidated) to it, each through the primary key over the days asked;
-- summed per metric first, then pivoted (12 rows, not one FILTER per metric per cell). An
-- absorbed unit's ranges cover all of time (from -infinity, each step up to the next, the last
-- to infinity), its own days before the merger among them (depth 0), so whether the office has
-- ranges is asked once, not per cell; a unit with ranges is in core.final_units too.
-- PL/pgSQL planned for the arguments given (a custom plan each call, about 0.2 ms): 0003's SQL
-- function was planned blind to them (PostgreSQL 15), so it kept both bases in its plan and
-- sorted the cells it should have hashed; its plan now also stays cached for the session.
CREATE OR REPLACE FUNCTION reporting.activity_summary(
    p_unit_id text, p_from date, p_to date, p_consolidated boolean DEFAULT false
) RETURNS TABLE (
    documents_issued bigint, documents_appraised bigint, meetings_held bigint,
    meeting_attendees bigint, receptions_held bigint, citizens_received bigint,
    petitions_received bigint, awards_granted bigint, awards_received bigint,
    tasks_assigned bigint, tasks_completed_on_time bigint, tasks_completed_late bigint
)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog
SET plan_cache_mode = force_custom_plan
AS $$
BEGIN
    RETURN QUERY
    WITH cells AS (
        SELECT m.metric, m.value
        FROM core.metric_daily m
        WHERE m.unit_id = p_unit_id AND m.day BETWEEN p_from AND p_to
          AND date_trunc('month', m.day::timestamp)::date
              BETWEEN date_trunc('month', p_from::timestamp)::date
                  AND date_trunc('month', p_to::timestamp)::date  -- the same, for the month index
          AND NOT EXISTS (SELECT FROM core.attribution_ranges a WHERE a.unit_id = p_unit_id)
      UNION ALL
        SELECT m.metric, m.value
        FROM core.attribution_ranges a
        JOIN core.metric_daily m
          ON m.unit_id = a.unit_id AND m.day BETWEEN a.valid_from AND a.valid_to
         AND m.day BETWEEN p_from AND p_to
        WHERE a.target_unit_id = p_unit_id AND NOT p_consolidated
      UNION ALL
        SELECT m.metric, m.value
        FROM core.final_units f
        JOIN core.metric_daily m ON m.unit_id = f.unit_id AND m.day BETWEEN p_from AND p_to
        WHERE f.final_unit_id = p_unit_id AND p_consolidated
    ), totals AS (
        SELECT metric, sum(value) AS total FROM cells GROUP BY metric
    )
    SELECT coalesce(sum(total) FILTER (WHERE metric = 'documents_issued'), 0)::bigint,
           coalesce(sum(total) FILTER (WHERE metric = 'documents_appraised'), 0)::bigint,
           coalesce(sum(total) FILTER (WHERE metric = 'meetings_held'), 0)::bigint,
           coalesce(sum(total) FILTER (WHERE metric = 'meeting_attendees'), 0)::bigint,
           coalesce(sum(total) FILTER (WHERE metric = 'receptions_held'), 0)::bigint,
           coalesce(sum(total) FILTER (WHERE metric = 'citizens_received'), 0)::bigint,
           coalesce(sum(total) FILTER (WHERE metric = 'petitions_received'), 0)::bigint,
           coalesce(sum(total) FILTER (WHERE metric = 'awards_granted'), 0)::bigint,
           coalesce(sum(total) FILTER (WHERE metric = 'awards_received'), 0)::bigint,
           coalesce(sum(total) FILTER (WHERE metric = 'tasks_assigned'), 0)::bigint,
           coalesce(sum(total) FILTER (WHERE metric = 'tasks_completed_on_time'), 0)::bigint,
           coalesce(sum(total) FILTER (WHERE metric = 'tasks_completed_late'), 0)::bigint
    FROM totals;
END
$$;
