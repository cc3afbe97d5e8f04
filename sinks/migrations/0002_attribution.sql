-- Attribution through mergers, decided at read time (CONTRACT.md §5.4), so that a merger that
-- arrives years after the activity it affects still re-attributes it.

-- Functions that views call run with the reader's rights; these only reveal the time zone.
CREATE FUNCTION core.local_day(ts timestamptz) RETURNS date
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
AS $$ SELECT (ts AT TIME ZONE (SELECT value FROM core.config WHERE key = 'timezone'))::date $$;

CREATE OR REPLACE FUNCTION core.today() RETURNS date
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
AS $$ SELECT core.local_day(now()) $$;

-- One row per absorbed unit of every current, non-voided merger.
CREATE VIEW core.merge_edges AS
SELECT e.entity_id                                 AS merge_id,
       absorbed.unit_id                            AS absorbed_unit_id,
       e.record ->> 'into_unit_id'                 AS into_unit_id,
       (e.record ->> 'effective_date')::date       AS effective_date,
       ARRAY(SELECT jsonb_array_elements_text(e.record -> 'legal_basis')) AS legal_basis
FROM core.entities e
CROSS JOIN LATERAL jsonb_array_elements_text(e.record -> 'absorbed_unit_ids') AS absorbed(unit_id)
WHERE e.entity_type = 'office.merged' AND NOT e.voided;

-- For every absorbed unit, the unit its activity belongs to over each range of days: the chain
-- is followed one merger at a time, each step taking effect on its effective date. Mergers are
-- validated at arrival (one absorber per unit, no cycle), so each unit has a single chain; the
-- depth bound only guards against a corrupted graph.
CREATE VIEW core.attribution AS
WITH RECURSIVE chain (unit_id, target_unit_id, valid_from, depth) AS (
    SELECT absorbed_unit_id, absorbed_unit_id, '-infinity'::date, 0
    FROM core.merge_edges
  UNION ALL
    SELECT c.unit_id, m.into_unit_id, greatest(c.valid_from, m.effective_date), c.depth + 1
    FROM chain c
    JOIN core.merge_edges m ON m.absorbed_unit_id = c.target_unit_id
    WHERE c.depth < 64
)
SELECT unit_id,
       target_unit_id,
       valid_from,
       coalesce(lead(valid_from) OVER w - 1, 'infinity'::date) AS valid_to,
       depth
FROM chain
WINDOW w AS (PARTITION BY unit_id ORDER BY depth);

-- The last unit of each chain today: where a unit's whole history is consolidated.
CREATE VIEW core.final_units AS
SELECT DISTINCT ON (unit_id) unit_id, target_unit_id AS final_unit_id
FROM core.attribution
WHERE valid_from <= core.today()
ORDER BY unit_id, depth DESC;

-- Aggregate cells by the unit they are attributed to on their day.
CREATE VIEW core.metric_attributed AS
SELECT coalesce(a.target_unit_id, m.unit_id) AS unit_id, m.day, m.metric, m.dimension, m.value
FROM core.metric_daily m
LEFT JOIN core.attribution a
       ON a.unit_id = m.unit_id AND m.day BETWEEN a.valid_from AND a.valid_to;

-- Aggregate cells by the unit their recorded unit ends up in today.
CREATE VIEW core.metric_consolidated AS
SELECT coalesce(f.final_unit_id, m.unit_id) AS unit_id, m.day, m.metric, m.dimension, m.value
FROM core.metric_daily m
LEFT JOIN core.final_units f ON f.unit_id = m.unit_id;
