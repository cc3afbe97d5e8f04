"""The event types of CONTRACT.md §2–§4: wire names, topics, entity keys, partitions.

One table, so the JSON ``type``, the Avro record name, the topic and the key field of an event
type are never spelled twice. :class:`EventType` is a string enum: a member *is* its JSON
``type`` (``EventType.OFFICE_MERGED == "office.merged"``, with the same hash), so code dispatches
on members while the strings stored in PostgreSQL (``core.entities.entity_type``) and written to
JSON stay exactly what they were; ``EventType("office.merged")`` converts one at the edge.
"""

from __future__ import annotations

from enum import StrEnum

NAMESPACE = "vanphong.events"
DEAD_LETTER_TOPIC = "dead-letter.v1"
DEAD_LETTER_PARTITIONS = 3


# type → (Avro record short name, topic without prefix, entity key field, partitions)
_TABLE: dict[str, tuple[str, str, str, int]] = {
    "unit.registered": ("UnitRegistered", "unit-registered.v1", "unit_id", 3),
    "document.issued": ("DocumentIssued", "document-issued.v1", "document_id", 6),
    "meeting.held": ("MeetingHeld", "meeting-held.v1", "meeting_id", 6),
    "office.merged": ("OfficeMerged", "office-merged.v1", "merge_id", 1),
    "award.granted": ("AwardGranted", "award-granted.v1", "award_id", 3),
    "citizens.received": ("CitizensReceived", "citizens-received.v1", "reception_id", 3),
    "task.assigned": ("TaskAssigned", "task-assigned.v1", "task_id", 6),
    "task.completed": ("TaskCompleted", "task-completed.v1", "task_id", 6),
}


class EventType(StrEnum):
    """One event type of CONTRACT.md §2; the value is the JSON ``type``."""

    UNIT_REGISTERED = "unit.registered"
    DOCUMENT_ISSUED = "document.issued"
    MEETING_HELD = "meeting.held"
    OFFICE_MERGED = "office.merged"
    AWARD_GRANTED = "award.granted"
    CITIZENS_RECEIVED = "citizens.received"
    TASK_ASSIGNED = "task.assigned"
    TASK_COMPLETED = "task.completed"

    def __init__(self, type_: str) -> None:
        self.type: str = type_  # the JSON ``type``, e.g. "document.issued" (the value)
        record, topic, key_field, partitions = _TABLE[type_]
        self.record: str = record  # the Avro record's short name, e.g. "DocumentIssued"
        self.topic: str = topic  # the topic name without prefix, e.g. "document-issued.v1"
        self.key_field: str = key_field  # the entity key field, e.g. "document_id"
        self.partitions: int = partitions

    @property
    def full_record_name(self) -> str:
        return f"{NAMESPACE}.{self.record}"


EVENT_TYPES: tuple[EventType, ...] = tuple(EventType)

BY_TYPE: dict[str, EventType] = {e.type: e for e in EVENT_TYPES}
BY_RECORD: dict[str, EventType] = {e.full_record_name: e for e in EVENT_TYPES}
BY_TOPIC: dict[str, EventType] = {e.topic: e for e in EVENT_TYPES}
