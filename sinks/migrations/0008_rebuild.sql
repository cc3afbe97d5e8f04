-- vanphong rebuild (issue 18; vanphong/rebuild/): the entities a worker wrote since a snapshot,
-- found without reading them all.
--
-- rebuild recomputes every aggregate in a snapshot, beside the live ones, while workers keep
-- applying; it then catches up with what they committed since, entity by entity: the rows whose
-- updated_at (the writer's transaction start, set on every insert and update) is at or after
-- the oldest transaction that was still open at the snapshot. This index answers that in
-- proportion to the rows written since, and the last, short catch-up runs while writers are
-- held. It costs each written entity one more entry in an index that grows at its right end.
CREATE INDEX entities_updated_at ON core.entities (updated_at);
