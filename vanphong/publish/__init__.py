"""``vanphong publish``: JSON Lines in, validated, Avro messages out. Two steps, two modules:
``prepare`` (every line parsed, checked against §4 and encoded before anything is sent) and
``send`` (the messages to Kafka). The demo and bench/ publish through them too."""

from vanphong.publish.prepare import LineError, Outgoing, numbered_lines, prepare_all, to_message
from vanphong.publish.send import send_all

__all__ = ["LineError", "Outgoing", "numbered_lines", "prepare_all", "send_all", "to_message"]
