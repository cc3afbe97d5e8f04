-- Province readers (CONTRACT.md §7 "Province readers", issue 19; docs/operations.md,
-- "Province readers"): a role made by `vanphong access grant-province ROLE --province P` reads
-- the objects of schema `reporting`, but only about the units P may see: those whose current
-- `province` is P, and those whose final_unit_id is such a unit. PostgreSQL enforces it,
-- whatever SQL the role sends.
--
-- The mechanism: security-barrier views run as their owner, filtered through a role → province
-- mapping. Each reporting view moves to schema core under the name national_<view>, unchanged,
-- and reporting.<view> becomes
--
--     SELECT * FROM core.national_<view> v
--     WHERE (SELECT sees_all FROM core.reader_scope) OR v.unit_id = ANY ((SELECT units …)::text[])
--
-- core.reader_scope reads `current_user` (the querying role, after any SET ROLE: a view runs
-- with its owner's privileges but not as its owner): a registered province reader gets its
-- province's units, computed once per statement (both sub-selects are init plans); the
-- national vanphong_reporting (or a member), and a role that may use schema core anyway (the
-- owner), see all; any other role sees nothing. The filter is default-deny.
--
-- Why not row-level security with security_invoker views (PostgreSQL 15)? Those views read the
-- core tables with the reader's own privileges, so every reader would need SELECT on
-- core.metric_daily, core.entities and core.attribution_ranges, which the contract forbids
-- (vanphong_reporting reads `reporting` and nothing else), and the policies would run on the
-- worker's tables (core.entities holds personal data the views never expose). RLS on the
-- owner-run views themselves is impossible (views have no policies), and FORCE ROW LEVEL
-- SECURITY on the core tables would tax the worker's write path (sinks/postgres.py writes
-- core.metric_daily and core.entities as the owner) and every aggregate it reads back. Here the
-- worker's tables, indexes and statements are untouched: the filter exists only in `reporting`.
--
-- The side doors, each closed here or by PostgreSQL (tests/test_province_readers.py tries them):
-- - security_barrier: a condition the reader adds that is not leakproof (a function it wrote in
--   pg_temp, a cast whose error would echo a value, 1/0 on a chosen value) runs only on rows
--   the filter kept. Only leakproof conditions (=, <, BETWEEN on text and dates) are pushed
--   below it, so indexes still serve `unit_id = …` and `month BETWEEN …`. LEAKPROOF can only be
--   set by a superuser; no function of ours is.
-- - reporting.activity_summary runs as its owner (it reads core), so it checks the caller
--   itself: the calling role is `current_setting('role')` (what SET ROLE chose, 'none' when
--   none) else session_user, since current_user inside a SECURITY DEFINER function is the
--   owner. A unit outside the caller's scope raises 42501 before anything is read, the same
--   for a unit that exists and one that does not (no existence oracle).
-- - COPY (SELECT …) reads through the same views; COPY of a view or a core table is refused.
-- - EXPLAIN shows the views' text and the reader's own constants, never the scope's values
--   (init-plan parameters); row estimates and EXPLAIN ANALYZE's "Rows Removed by Filter" are
--   counts of the national tables, not values. pg_stats shows only columns the role may
--   SELECT: none of core's.
-- - Timing is out of scope.
--
-- Privileges: the NOLOGIN group vanphong_province_readers holds USAGE on `reporting`, SELECT
-- on its views and EXECUTE on activity_summary; each province reader is a member (so a role
-- holds no privilege of its own and DROP ROLE is clean). That group itself sees nothing. The
-- roles are made by `vanphong access` (vanphong/access/), not here: migrations only make the
-- group when it is missing (CREATEROLE, or an administrator beforehand, as for
-- vanphong_reporting).

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vanphong_province_readers') THEN
        IF NOT (SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            RAISE EXCEPTION 'the role vanphong_province_readers is missing and % may not create it',
                current_user
                USING HINT = 'as an administrator: CREATE ROLE vanphong_province_readers NOLOGIN '
                             '(or ALTER ROLE ' || current_user || ' CREATEROLE), then vanphong init';
        END IF;
        CREATE ROLE vanphong_province_readers NOLOGIN;
    END IF;
END
$$;

-- Which role reads which province (written by `vanphong access`).
CREATE TABLE core.province_readers (
    role_name  name        PRIMARY KEY,
    province   text        NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now()
);

-- Every unit a province may see, with that province: units registered in it now (the highest
-- non-voided unit.registered revision), and units whose final unit is one of those (a unit
-- merged into the province's office belongs to the province, wherever it was registered).
CREATE VIEW core.province_units AS
WITH registered AS (
    SELECT entity_id AS unit_id, record ->> 'province' AS province
    FROM core.entities
    WHERE entity_type = 'unit.registered' AND NOT voided AND record ->> 'province' IS NOT NULL
)
SELECT unit_id, province FROM registered
UNION
SELECT f.unit_id, r.province
FROM core.final_units f
JOIN registered r ON r.unit_id = f.final_unit_id;

-- What the querying role may see: one row. sees_all, or the array of its units (empty for a
-- role that is neither national nor a province reader). Read through sub-selects, so each
-- statement evaluates it once (an init plan), and the units only for a province reader.
CREATE VIEW core.reader_scope AS
SELECT s.province IS NULL
       AND (pg_has_role(current_user, 'vanphong_reporting', 'MEMBER')
            OR has_schema_privilege(current_user, 'core', 'USAGE')) AS sees_all,
       CASE WHEN s.province IS NULL THEN '{}'::text[]
            ELSE ARRAY(SELECT p.unit_id FROM core.province_units p WHERE p.province = s.province)
       END AS units
FROM (SELECT (SELECT r.province FROM core.province_readers r WHERE r.role_name = current_user)
             AS province) s;

-- The views of 0003/0006, moved unchanged out of the readers' reach ----------------------

ALTER VIEW reporting.unit_activity_daily RENAME TO national_unit_activity_daily;
ALTER VIEW reporting.unit_activity_consolidated_daily RENAME TO national_unit_activity_consolidated_daily;
ALTER VIEW reporting.unit_activity_monthly RENAME TO national_unit_activity_monthly;
ALTER VIEW reporting.unit_activity_consolidated_monthly RENAME TO national_unit_activity_consolidated_monthly;
ALTER VIEW reporting.documents_by_type_monthly RENAME TO national_documents_by_type_monthly;
ALTER VIEW reporting.meetings_by_kind_monthly RENAME TO national_meetings_by_kind_monthly;
ALTER VIEW reporting.units RENAME TO national_units;
ALTER VIEW reporting.tasks RENAME TO national_tasks;
ALTER VIEW reporting.merges RENAME TO national_merges;
ALTER FUNCTION reporting.activity_summary(text, date, date, boolean) RENAME TO national_activity_summary;

ALTER VIEW reporting.national_unit_activity_daily SET SCHEMA core;
ALTER VIEW reporting.national_unit_activity_consolidated_daily SET SCHEMA core;
ALTER VIEW reporting.national_unit_activity_monthly SET SCHEMA core;
ALTER VIEW reporting.national_unit_activity_consolidated_monthly SET SCHEMA core;
ALTER VIEW reporting.national_documents_by_type_monthly SET SCHEMA core;
ALTER VIEW reporting.national_meetings_by_kind_monthly SET SCHEMA core;
ALTER VIEW reporting.national_units SET SCHEMA core;
ALTER VIEW reporting.national_tasks SET SCHEMA core;
ALTER VIEW reporting.national_merges SET SCHEMA core;
ALTER FUNCTION reporting.national_activity_summary(text, date, date, boolean) SET SCHEMA core;

REVOKE ALL ON core.national_unit_activity_daily, core.national_unit_activity_consolidated_daily,
    core.national_unit_activity_monthly, core.national_unit_activity_consolidated_monthly,
    core.national_documents_by_type_monthly, core.national_meetings_by_kind_monthly,
    core.national_units, core.national_tasks, core.national_merges FROM vanphong_reporting;
REVOKE ALL ON FUNCTION core.national_activity_summary(text, date, date, boolean)
    FROM PUBLIC, vanphong_reporting;

-- The reporting views: same names, columns and types, filtered by the scope -----------------
--
-- One barrier view each, `sees_all OR unit_id = ANY (units)`: pushed down to core.metric_daily
-- as a filter beside the reader's own conditions, which keep their indexes and their row
-- estimates. Tried and measured on the national history (docs/performance.md, "Province
-- readers"): two barrier halves glued by UNION ALL (every row when sees_all; `unit_id = ANY
-- (units)` otherwise), whose province half reaches the (unit_id, month) index when a reader
-- names no unit (10 ms instead of 220 ms for a province's year); but a province reader's
-- question about one unit then carries two conditions on unit_id whose selectivities the
-- planner multiplies, and documents_by_type_monthly of one office fell to a lossy BRIN bitmap
-- (99 ms against 15). Questions about one unit are the page's; a reader names its units
-- (reporting.units) when it wants the whole province fast.

CREATE VIEW reporting.unit_activity_daily WITH (security_barrier) AS
SELECT v.* FROM core.national_unit_activity_daily v
WHERE (SELECT sees_all FROM core.reader_scope) OR v.unit_id = ANY ((SELECT units FROM core.reader_scope)::text[]);

CREATE VIEW reporting.unit_activity_consolidated_daily WITH (security_barrier) AS
SELECT v.* FROM core.national_unit_activity_consolidated_daily v
WHERE (SELECT sees_all FROM core.reader_scope) OR v.unit_id = ANY ((SELECT units FROM core.reader_scope)::text[]);

CREATE VIEW reporting.unit_activity_monthly WITH (security_barrier) AS
SELECT v.* FROM core.national_unit_activity_monthly v
WHERE (SELECT sees_all FROM core.reader_scope) OR v.unit_id = ANY ((SELECT units FROM core.reader_scope)::text[]);

CREATE VIEW reporting.unit_activity_consolidated_monthly WITH (security_barrier) AS
SELECT v.* FROM core.national_unit_activity_consolidated_monthly v
WHERE (SELECT sees_all FROM core.reader_scope) OR v.unit_id = ANY ((SELECT units FROM core.reader_scope)::text[]);

CREATE VIEW reporting.documents_by_type_monthly WITH (security_barrier) AS
SELECT v.* FROM core.national_documents_by_type_monthly v
WHERE (SELECT sees_all FROM core.reader_scope) OR v.unit_id = ANY ((SELECT units FROM core.reader_scope)::text[]);

CREATE VIEW reporting.meetings_by_kind_monthly WITH (security_barrier) AS
SELECT v.* FROM core.national_meetings_by_kind_monthly v
WHERE (SELECT sees_all FROM core.reader_scope) OR v.unit_id = ANY ((SELECT units FROM core.reader_scope)::text[]);

CREATE VIEW reporting.units WITH (security_barrier) AS
SELECT v.* FROM core.national_units v
WHERE (SELECT sees_all FROM core.reader_scope) OR v.unit_id = ANY ((SELECT units FROM core.reader_scope)::text[]);

CREATE VIEW reporting.tasks WITH (security_barrier) AS
SELECT v.* FROM core.national_tasks v
WHERE (SELECT sees_all FROM core.reader_scope) OR v.unit_id = ANY ((SELECT units FROM core.reader_scope)::text[]);

-- A merger is about two units: a province reader sees it when it may see both.
CREATE VIEW reporting.merges WITH (security_barrier) AS
SELECT v.* FROM core.national_merges v
WHERE (SELECT sees_all FROM core.reader_scope)
   OR (v.absorbed_unit_id = ANY ((SELECT units FROM core.reader_scope)::text[])
       AND v.into_unit_id = ANY ((SELECT units FROM core.reader_scope)::text[]));

-- Extension (not in the contract): who reads which province. The page (connected as
-- vanphong_reporting) finds a province's role here; a province reader sees its own row.
CREATE VIEW reporting.province_roles WITH (security_barrier) AS
SELECT r.role_name::text AS role_name, r.province
FROM core.province_readers r
WHERE (SELECT sees_all FROM core.reader_scope) OR r.role_name = current_user;

-- The summary, checked for the caller, then computed by 0006's function (as the owner). The
-- caller is what SET ROLE chose, else the session's login role: inside a SECURITY DEFINER
-- function current_user is the owner.
CREATE FUNCTION reporting.activity_summary(
    p_unit_id text, p_from date, p_to date, p_consolidated boolean DEFAULT false
) RETURNS TABLE (
    documents_issued bigint, documents_appraised bigint, meetings_held bigint,
    meeting_attendees bigint, receptions_held bigint, citizens_received bigint,
    petitions_received bigint, awards_granted bigint, awards_received bigint,
    tasks_assigned bigint, tasks_completed_on_time bigint, tasks_completed_late bigint
)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog
AS $$
DECLARE
    v_reader   name := CASE WHEN current_setting('role') = 'none' THEN session_user
                            ELSE current_setting('role')::name END;
    v_province text;
BEGIN
    SELECT r.province INTO v_province FROM core.province_readers r WHERE r.role_name = v_reader;
    IF v_province IS NOT NULL THEN
        IF NOT EXISTS (SELECT FROM core.province_units p
                       WHERE p.province = v_province AND p.unit_id = p_unit_id) THEN
            RAISE EXCEPTION 'permission denied: unit % is not in province %', p_unit_id, v_province
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    ELSIF NOT (pg_has_role(v_reader, 'vanphong_reporting', 'MEMBER')
               OR has_schema_privilege(v_reader, 'core', 'USAGE')) THEN
        RAISE EXCEPTION 'permission denied: % reads no province', v_reader
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN QUERY SELECT * FROM core.national_activity_summary(p_unit_id, p_from, p_to, p_consolidated);
END
$$;

-- Grants: vanphong_reporting as before; the province readers through their group --------

REVOKE ALL ON FUNCTION reporting.activity_summary(text, date, date, boolean) FROM PUBLIC;
GRANT USAGE ON SCHEMA reporting TO vanphong_reporting, vanphong_province_readers;
GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO vanphong_reporting, vanphong_province_readers;
GRANT EXECUTE ON FUNCTION reporting.activity_summary(text, date, date, boolean)
    TO vanphong_reporting, vanphong_province_readers;

-- The page may switch to the group (it sees nothing) for a user without a province; province
-- roles are granted to vanphong_reporting one by one by `vanphong access`. Needs CREATEROLE
-- (PostgreSQL 15), so only when the owner has it; the command grants it too.
DO $$
BEGIN
    IF (SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        GRANT vanphong_province_readers TO vanphong_reporting;
    END IF;
END
$$;
