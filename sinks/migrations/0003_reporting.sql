-- The reporting schema of CONTRACT.md §7: what downstream systems read, as vanphong_reporting.
-- The 12 metric columns are bigint and never null.

CREATE SCHEMA IF NOT EXISTS reporting;

-- Both bases (attributed by day, consolidated as of today) pivoted once, per unit and day.
CREATE VIEW core.activity_daily AS
SELECT basis, unit_id, day,
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
FROM (
    SELECT 'attributed' AS basis, unit_id, day, metric, value FROM core.metric_attributed
    UNION ALL
    SELECT 'consolidated', unit_id, day, metric, value FROM core.metric_consolidated
) cells
GROUP BY basis, unit_id, day;

-- Per unit and month, both bases.
CREATE VIEW core.activity_monthly AS
SELECT basis, unit_id, date_trunc('month', day)::date AS month,
       sum(documents_issued)::bigint        AS documents_issued,
       sum(documents_appraised)::bigint     AS documents_appraised,
       sum(meetings_held)::bigint           AS meetings_held,
       sum(meeting_attendees)::bigint       AS meeting_attendees,
       sum(receptions_held)::bigint         AS receptions_held,
       sum(citizens_received)::bigint       AS citizens_received,
       sum(petitions_received)::bigint      AS petitions_received,
       sum(awards_granted)::bigint          AS awards_granted,
       sum(awards_received)::bigint         AS awards_received,
       sum(tasks_assigned)::bigint          AS tasks_assigned,
       sum(tasks_completed_on_time)::bigint AS tasks_completed_on_time,
       sum(tasks_completed_late)::bigint    AS tasks_completed_late
FROM core.activity_daily
GROUP BY basis, unit_id, date_trunc('month', day);

CREATE VIEW reporting.unit_activity_daily AS
SELECT unit_id, day, documents_issued, documents_appraised, meetings_held, meeting_attendees,
       receptions_held, citizens_received, petitions_received, awards_granted, awards_received,
       tasks_assigned, tasks_completed_on_time, tasks_completed_late
FROM core.activity_daily WHERE basis = 'attributed';

-- Extension (not in the contract): the consolidated basis by day.
CREATE VIEW reporting.unit_activity_consolidated_daily AS
SELECT unit_id, day, documents_issued, documents_appraised, meetings_held, meeting_attendees,
       receptions_held, citizens_received, petitions_received, awards_granted, awards_received,
       tasks_assigned, tasks_completed_on_time, tasks_completed_late
FROM core.activity_daily WHERE basis = 'consolidated';

CREATE VIEW reporting.unit_activity_monthly AS
SELECT unit_id, month, documents_issued, documents_appraised, meetings_held, meeting_attendees,
       receptions_held, citizens_received, petitions_received, awards_granted, awards_received,
       tasks_assigned, tasks_completed_on_time, tasks_completed_late
FROM core.activity_monthly WHERE basis = 'attributed';

CREATE VIEW reporting.unit_activity_consolidated_monthly AS
SELECT unit_id, month, documents_issued, documents_appraised, meetings_held, meeting_attendees,
       receptions_held, citizens_received, petitions_received, awards_granted, awards_received,
       tasks_assigned, tasks_completed_on_time, tasks_completed_late
FROM core.activity_monthly WHERE basis = 'consolidated';

CREATE VIEW reporting.documents_by_type_monthly AS
SELECT unit_id, date_trunc('month', day)::date AS month, dimension AS doc_type,
       sum(value)::bigint AS documents_issued
FROM core.metric_attributed
WHERE metric = 'documents_issued'
GROUP BY unit_id, date_trunc('month', day), dimension;

CREATE VIEW reporting.meetings_by_kind_monthly AS
SELECT unit_id, date_trunc('month', day)::date AS month, dimension AS kind,
       coalesce(sum(value) FILTER (WHERE metric = 'meetings_held'), 0)::bigint     AS meetings_held,
       coalesce(sum(value) FILTER (WHERE metric = 'meeting_attendees'), 0)::bigint AS meeting_attendees
FROM core.metric_attributed
WHERE metric IN ('meetings_held', 'meeting_attendees')
GROUP BY unit_id, date_trunc('month', day), dimension;

CREATE VIEW reporting.merges AS
SELECT merge_id, into_unit_id, absorbed_unit_id, effective_date, legal_basis
FROM core.merge_edges;

-- Every unit that is registered, has activity, or takes part in a merger.
CREATE VIEW reporting.units AS
WITH registered AS (
    SELECT entity_id AS unit_id, record
    FROM core.entities
    WHERE entity_type = 'unit.registered' AND NOT voided
), known AS (
    SELECT unit_id FROM registered
    UNION SELECT unit_id FROM core.metric_daily WHERE value <> 0
    UNION SELECT absorbed_unit_id FROM core.merge_edges
    UNION SELECT into_unit_id FROM core.merge_edges
)
SELECT k.unit_id,
       r.record ->> 'name'           AS name,
       r.record ->> 'kind'           AS kind,
       r.record ->> 'parent_unit_id' AS parent_unit_id,
       r.record ->> 'province'       AS province,
       r.unit_id IS NOT NULL          AS registered,
       CASE WHEN e.effective_date <= core.today() THEN 'merged' ELSE 'active' END AS status,
       e.into_unit_id                 AS merged_into,
       e.effective_date               AS merged_on,
       coalesce(f.final_unit_id, k.unit_id) AS final_unit_id
FROM known k
LEFT JOIN registered r USING (unit_id)
LEFT JOIN core.merge_edges e ON e.absorbed_unit_id = k.unit_id
LEFT JOIN core.final_units f ON f.unit_id = k.unit_id;

CREATE VIEW reporting.tasks AS
WITH assigned AS (
    SELECT entity_id AS task_id, record FROM core.entities
    WHERE entity_type = 'task.assigned' AND NOT voided
), completed AS (
    SELECT entity_id AS task_id, core.local_day((record ->> 'occurred_at')::timestamptz) AS completed_on
    FROM core.entities
    WHERE entity_type = 'task.completed' AND NOT voided
)
SELECT a.task_id,
       a.record ->> 'unit_id'                                     AS unit_id,
       a.record ->> 'title'                                       AS title,
       core.local_day((a.record ->> 'occurred_at')::timestamptz) AS assigned_on,
       (a.record ->> 'due_date')::date                            AS due_on,
       c.completed_on,
       CASE
           WHEN c.completed_on IS NOT NULL AND c.completed_on <= (a.record ->> 'due_date')::date THEN 'done_on_time'
           WHEN c.completed_on IS NOT NULL THEN 'done_late'
           WHEN (a.record ->> 'due_date')::date < core.today() THEN 'overdue'
           ELSE 'open'
       END                                                        AS status
FROM assigned a
LEFT JOIN completed c USING (task_id);

CREATE FUNCTION reporting.activity_summary(
    p_unit_id text, p_from date, p_to date, p_consolidated boolean DEFAULT false
) RETURNS TABLE (
    documents_issued bigint, documents_appraised bigint, meetings_held bigint,
    meeting_attendees bigint, receptions_held bigint, citizens_received bigint,
    petitions_received bigint, awards_granted bigint, awards_received bigint,
    tasks_assigned bigint, tasks_completed_on_time bigint, tasks_completed_late bigint
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
AS $$
    SELECT coalesce(sum(d.documents_issued), 0)::bigint,
           coalesce(sum(d.documents_appraised), 0)::bigint,
           coalesce(sum(d.meetings_held), 0)::bigint,
           coalesce(sum(d.meeting_attendees), 0)::bigint,
           coalesce(sum(d.receptions_held), 0)::bigint,
           coalesce(sum(d.citizens_received), 0)::bigint,
           coalesce(sum(d.petitions_received), 0)::bigint,
           coalesce(sum(d.awards_granted), 0)::bigint,
           coalesce(sum(d.awards_received), 0)::bigint,
           coalesce(sum(d.tasks_assigned), 0)::bigint,
           coalesce(sum(d.tasks_completed_on_time), 0)::bigint,
           coalesce(sum(d.tasks_completed_late), 0)::bigint
    FROM core.activity_daily d
    WHERE d.basis = CASE WHEN p_consolidated THEN 'consolidated' ELSE 'attributed' END
      AND d.unit_id = p_unit_id
      AND d.day BETWEEN p_from AND p_to
$$;

-- vanphong_reporting reads `reporting` and nothing else.
REVOKE ALL ON SCHEMA core FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON FUNCTION reporting.activity_summary(text, date, date, boolean) FROM PUBLIC;
GRANT USAGE ON SCHEMA reporting TO vanphong_reporting;
GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO vanphong_reporting;
GRANT EXECUTE ON FUNCTION reporting.activity_summary(text, date, date, boolean) TO vanphong_reporting;
