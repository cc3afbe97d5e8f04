"""The hand-made Kafka protocol requests have one home, vanphong/ground/kafka_protocol.py (issue
17: they were in three modules on two layers). import-linter cannot say it, since it sees an
external package only as a whole (``aiokafka``), so this test reads the sources: no other product
module imports ``aiokafka.protocol`` or subclasses its ``Request``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOME = Path("vanphong/ground/kafka_protocol.py")
#: The product's folders at their real paths (vanphong/streams etc. are links to them).
PRODUCT = ("vanphong", "streams", "sinks", "deploy", "schemas")


def _product_files() -> list[Path]:
    seen: set[Path] = set()
    files = []
    for top in PRODUCT:
        for path in sorted((ROOT / top).rglob("*.py")):
            real = path.resolve()
            if real not in seen:
                seen.add(real)
                files.append(path)
    return files


def _protocol_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aiokafka.protocol"):
            found.append(node.module or "")
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("aiokafka.protocol")]
    return found


def test_only_ground_kafka_protocol_imports_aiokafka_s_protocol() -> None:
    offenders = {
        str(path.relative_to(ROOT)): imports
        for path in _product_files()
        if path.resolve() != (ROOT / HOME).resolve() and (imports := _protocol_imports(path))
    }
    assert not offenders, f"Kafka protocol requests belong in {HOME}: {offenders}"


def test_the_home_module_has_the_requests() -> None:
    assert _protocol_imports(ROOT / HOME), f"{HOME} no longer imports aiokafka.protocol"
