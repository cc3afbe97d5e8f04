"""The event types of CONTRACT.md §2–§4: wire names, topics, entity keys, partitions.

One table, so the JSON ``type``, the Avro record name, the topic and the key field of an event
type are never spelled twice.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE = "vanphong.events"
DEAD_LETTER_TOPIC = "dead-letter.v1"
DEAD_LETTER_PARTITIONS = 3


@dataclass(frozen=True)
class EventType:
    type: str  # the JSON ``type``, e.g. "document.issued"
    record: str  # the Avro record's short name, e.g. "DocumentIssued"
    topic: str  # the topic name without prefix, e.g. "document-issued.v1"
    key_field: str  # the entity key field, e.g. "document_id"
    partitions: int

    @property
    def full_record_name(self) -> str:
        return f"{NAMESPACE}.{self.record}"


EVENT_TYPES: tuple[EventType, ...] = (
    EventType("unit.registered", "UnitRegistered", "unit-registered.v1", "unit_id", 3),
    EventType("document.issued", "DocumentIssued", "document-issued.v1", "document_id", 6),
    EventType("meeting.held", "MeetingHeld", "meeting-held.v1", "meeting_id", 6),
    EventType("office.merged", "OfficeMerged", "office-merged.v1", "merge_id", 1),
    EventType("award.granted", "AwardGranted", "award-granted.v1", "award_id", 3),
    EventType("citizens.received", "CitizensReceived", "citizens-received.v1", "reception_id", 3),
    EventType("task.assigned", "TaskAssigned", "task-assigned.v1", "task_id", 6),
    EventType("task.completed", "TaskCompleted", "task-completed.v1", "task_id", 6),
)

BY_TYPE: dict[str, EventType] = {e.type: e for e in EVENT_TYPES}
BY_RECORD: dict[str, EventType] = {e.full_record_name: e for e in EVENT_TYPES}
BY_TOPIC: dict[str, EventType] = {e.topic: e for e in EVENT_TYPES}
