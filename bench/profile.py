"""Where the worker's CPU goes: a summary of a py-spy ``--format raw`` profile.

``BENCH_PROFILE=1 make bench`` (or ``BENCH_SYSTEMS=vanphong``) samples the single vanphong
worker at 100 Hz without pausing it; idle samples (waiting on the network) are not recorded, so
percentages are of CPU-busy samples. Each sample is charged to the *deepest* frame that belongs
to a known part of the worker path (decode, rules, planner, each module of the worker's own
``streams`` and ``sinks`` packages, asyncpg, faust, aiokafka, ...), so the parts add up to
100 %. Top functions are listed by self and by inclusive time.

``python -m bench.profile FILE`` prints the summary of a saved profile.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# The worker's own packages, whose modules change (issue 17 split streams/runtime.py): each of
# their modules is a part of its own, named from the frame's file, so the parts are the modules
# that exist and none that does not, and a module added, renamed or removed needs no edit here.
# The folder starts the short file name or comes right after ``vanphong/`` (older revisions had
# it at the top), so that another package's ``streams/`` (anyio's) is not taken for the worker's.
OWN_PACKAGES: dict[str, str] = {"streams": "worker", "sinks": "sink"}
_OWN_FILE = re.compile(r"(?:^|vanphong/)(?P<package>streams|sinks)/(?P<module>[\w/]+)\.py$")

# (part, path fragments) for the rest: the core's semantics, the codec and the libraries. A
# frame's file decides its part; no file matches two.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "decode: schemas (Avro)",
        (
            "schemas/codec.py",
            "schemas/wire.py",
            "schemas/known.py",
            "schemas/_fastdecode.py",
            "schemas/_decoderuntime.py",
            "fastavro/",
        ),
    ),
    (
        "validate + normalise: vanphong.core.rules",
        ("vanphong/core/rules.py", "vanphong/core/docnumber.py", "unicodedata"),
    ),
    (
        "plan: vanphong.core.batch / semantics",
        ("vanphong/core/batch.py", "vanphong/core/semantics.py", "vanphong/core/mergers.py"),
    ),
    ("asyncpg (encode, protocol)", ("asyncpg/",)),
    ("json (stdlib)", ("json/",)),
    ("metrics: prometheus_client", ("prometheus_client/",)),
    ("logging", ("structlog/", "logging/")),
    ("faust + mode (streams, acks, commits)", ("faust/", "mode/")),
    ("aiokafka (fetch, parse records)", ("aiokafka/", "kafka/")),
)
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def part_of(path: str) -> str | None:
    """The part a frame's file is charged to, or None when it belongs to no known part: a
    module of the worker's own packages is its own part, anything else as ``PARTS`` says."""
    own = _OWN_FILE.search(path)
    if own:
        package, module = own["package"], own["module"].replace("/", ".")
        name = ".".join(["vanphong", package, module]).removesuffix("__init__").rstrip(".")
        return f"{OWN_PACKAGES[package]}: {name}"
    for part, fragments in PARTS:
        if any(f in path for f in fragments):
            return part
    return None


def _parse(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame)
    if not match:
        return frame, ""
    return match["func"], match["file"]


_LOOP = ("asyncio/", "selectors.py", "uvloop")
_PROJECT = ("vanphong/", "streams/", "sinks/", "schemas/")


def _charge(frames: list[tuple[str, str]]) -> str:
    """The part a sample is charged to: the deepest known frame below the event loop's
    callback boundary (``Handle._run``), not counting asyncio itself; samples spent in the loop
    (scheduling, epoll) are the event loop's."""
    boundary = max(
        (i for i, (func, file) in enumerate(frames) if func == "Handle._run"), default=-1
    )
    if boundary < 0 and any(f in frames[-1][1] for f in _LOOP):
        return "asyncio event loop (scheduling, epoll)"  # the loop itself, between callbacks
    for _, file in reversed(frames[boundary + 1 :]):
        if any(f in file for f in _LOOP):
            continue
        part = part_of(file)
        if part:
            return part
    if any(any(f in file for f in _LOOP) for _, file in frames[boundary:]):
        return "asyncio event loop (scheduling, epoll)"
    return "other"


def summarise(raw: Path, top: int = 15) -> str:
    samples = 0
    parts: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for text in raw.read_text(errors="replace").splitlines():
        stack, _, count = text.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = [_parse(f) for f in stack.split(";")]
        names = [f"{func} ({file})" for func, file in frames]
        self_time[names[-1]] += n
        for name in set(names):
            inclusive[name] += n
        parts[_charge(frames)] += n
        in_thread = frames[0][0].startswith("Thread._bootstrap")
        threads["faust's consumer thread" if in_thread else "main thread (event loop)"] += n
    if not samples:
        return f"{raw}: no samples"

    def pct(n: int) -> str:
        return f"{100 * n / samples:5.1f} %"

    def listing(counter: Counter[str], keep: tuple[str, ...] = ()) -> list[str]:
        rows = [(k, n) for k, n in counter.most_common() if not keep or any(f in k for f in keep)]
        return [f"  {pct(n)}  {name}" for name, n in rows[:top]]

    out = [f"{samples} CPU samples (100 Hz) from {raw.name}", ""]
    out += ["by thread:"] + [f"  {pct(n)}  {t}" for t, n in threads.most_common()]
    out += ["", "by part of the worker path (each sample charged once):"]
    out += [f"  {pct(n)}  {part}" for part, n in parts.most_common()]
    out += ["", f"top {top} functions by self time:", *listing(self_time)]
    out += ["", f"top {top} project functions by inclusive time:", *listing(inclusive, _PROJECT)]
    return "\n".join(out)


def main() -> None:
    for arg in sys.argv[1:]:
        print(summarise(Path(arg)))


if __name__ == "__main__":
    main()
