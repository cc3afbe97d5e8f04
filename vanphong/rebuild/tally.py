"""Recomputing a snapshot's entities one at a time: the cells they add up to under today's
rules, which entities store contributions that differ from those, and which records today's
rules would refuse. Shared by ``verify`` and ``rebuild``; pure apart from the callback."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from vanphong.core.recompute import (
    Cell,
    StoredEntity,
    add_to,
    merger_refusals,
    recomputed,
    refusal,
    same_contributions,
)
from vanphong.core.semantics import Contribution, EntityRef
from vanphong.schemas.catalog import EventType
from vanphong.schemas.known import KnownSchemas, load_known_schemas

#: How many entities with stale contributions are named in a report.
EXAMPLES = 20


@dataclass(frozen=True)
class Refused:
    """A stored entity that today's rules would refuse: listed, never dropped. Its
    contributions still count: a fact stored is a fact until someone decides otherwise."""

    ref: EntityRef
    reason: str
    detail: str

    def as_json(self) -> dict[str, str]:
        return {
            "entity_type": str(self.ref.entity_type),
            "entity_id": self.ref.entity_id,
            "reason": self.reason,
            "detail": self.detail,
        }


@dataclass
class Tally:
    """The running recomputation of some entities; tallies of disjoint parts of a snapshot
    :meth:`merge` into the whole. With ``keep_stale``, every entity whose stored contributions
    differ from the recomputed ones is kept with the latter (``rebuild`` writes those)."""

    zone: ZoneInfo
    keep_stale: bool = False
    #: The extra schema directories of the settings (``VANPHONG_EXTRA_SCHEMAS_DIR``): plain
    #: paths, so that a tally travels between processes; :attr:`schemas` is their registry.
    schema_dirs: tuple[Path, ...] = ()
    cells: dict[Cell, int] = field(default_factory=dict)
    entities: int = 0
    stale: int = 0
    stale_examples: list[EntityRef] = field(default_factory=list)
    stale_entities: list[tuple[EntityRef, tuple[Contribution, ...]]] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    mergers: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def schemas(self) -> KnownSchemas:
        return load_known_schemas(self.schema_dirs)

    def add(self, entity: StoredEntity) -> None:
        self.entities += 1
        own = recomputed(entity, self.zone)
        add_to(self.cells, own)
        if not same_contributions(entity.contributions, own):
            self.stale += 1
            if len(self.stale_examples) < EXAMPLES:
                self.stale_examples.append(entity.ref)
            if self.keep_stale:
                self.stale_entities.append((entity.ref, own))
        problem = refusal(entity, self.schemas)
        if problem is not None:
            self.refused.append(Refused(entity.ref, str(problem.reason), problem.detail))
        if entity.ref.entity_type is EventType.OFFICE_MERGED and not entity.voided:
            self.mergers[entity.ref.entity_id] = entity.record

    def merge(self, other: Tally) -> None:
        """Add the tally of other entities of the same snapshot."""
        cells = self.cells
        for cell, n in other.cells.items():
            cells[cell] = cells.get(cell, 0) + n
        self.entities += other.entities
        self.stale += other.stale
        room = EXAMPLES - len(self.stale_examples)
        self.stale_examples.extend(other.stale_examples[: max(room, 0)])
        self.stale_entities.extend(other.stale_entities)
        self.refused.extend(other.refused)
        self.mergers.update(other.mergers)

    def finish(self) -> None:
        """Judge the stored mergers beside each other (§5.4), once all are seen."""
        for merge_id, problem in merger_refusals(self.mergers).items():
            ref = EntityRef(EventType.OFFICE_MERGED, merge_id)
            self.refused.append(Refused(ref, str(problem.reason), problem.detail))
        self.refused.sort(key=lambda r: (r.ref.entity_type, r.ref.entity_id, r.reason))
