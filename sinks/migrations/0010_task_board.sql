-- The task follow-up board (issue 20, Quy chế 08-QC/TW: tasks assigned by Party bodies followed
-- by the assigning document, the responsible agency, the progress and the results).
--
-- reporting.task_followup: one row per task, reporting.tasks (0006) with what the board needs
-- beside it: who assigned it, its source document, whether an open task falls due within 7
-- days, and how many days an overdue task is past its due date (or a late one was). Built on
-- reporting.tasks, so the status rule stays in one place and is still decided on read, in
-- VANPHONG_TIMEZONE: a task is overdue from the day after its due date, and the commit that
-- writes a late completion moves it to done_late for every read after it. It reads
-- reporting.tasks, core.entities (the task.assigned rows, by primary key) and core.config (the
-- time zone).
--
-- Province readers (0009): reporting.tasks keeps a reader's tasks only, so this view does too;
-- it is a security barrier like 0009's views, so that a condition a reader adds (a function of
-- its own, an error that echoes a value) never runs on core.entities' rows before the join has
-- dropped the other provinces' tasks. Leakproof conditions (=, <, BETWEEN) still reach the
-- indexes. It is granted to the readers' group beside vanphong_reporting.
--
-- The board's sums per responsible unit and per assigning body, and the on-time rate over a
-- period, are GROUP BYs over this view (vanphong/reporting/board.py; docs/reporting.md).

CREATE VIEW reporting.task_followup WITH (security_barrier) AS
SELECT t.task_id,
       t.unit_id,
       a.record ->> 'assigned_by'                                      AS assigned_by,
       a.record ->> 'source_document'                                  AS source_document,
       t.title,
       t.assigned_on,
       t.due_on,
       t.completed_on,
       t.status,
       (t.status = 'open' AND t.due_on <= d.today + 7)                 AS due_within_7_days,
       CASE WHEN t.status = 'overdue' THEN d.today - t.due_on END      AS days_overdue,
       CASE WHEN t.status = 'done_late' THEN t.completed_on - t.due_on END AS days_late
FROM reporting.tasks t
JOIN core.entities a
  ON a.entity_type = 'task.assigned' AND a.entity_id = t.task_id
CROSS JOIN (
    SELECT (now() AT TIME ZONE (SELECT value FROM core.config WHERE key = 'timezone'))::date AS today
) d;

-- "Which tasks came from this document?" and "what did this body assign?" by index.
CREATE INDEX entities_task_source_document ON core.entities ((record ->> 'source_document'))
    WHERE entity_type = 'task.assigned';
CREATE INDEX entities_task_assigned_by ON core.entities ((record ->> 'assigned_by'))
    WHERE entity_type = 'task.assigned';

GRANT SELECT ON reporting.task_followup TO vanphong_reporting, vanphong_province_readers;
