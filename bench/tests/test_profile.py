"""bench/profile.py's table of the worker's parts: every module of the worker's own packages is
charged to itself, and no entry names a file that is gone (issue 17: the table charged samples
to streams/batching.py long after it was removed, and never listed transport.py or backlog.py,
while the CPU table of docs/performance.md came from it)."""

from __future__ import annotations

from pathlib import Path

import pytest

import vanphong.sinks
import vanphong.streams
from bench.config import ROOT
from bench.profile import OWN_PACKAGES, PARTS, part_of, summarise


def _modules(package: Path) -> list[str]:
    """Every module of a package on disk, dotted below it (``runtime``, ``sub.x``)."""
    return sorted(
        ".".join(path.relative_to(package).with_suffix("").parts)
        for path in package.rglob("*.py")
        if path.name != "__init__.py"
    )


OWN = {"streams": vanphong.streams, "sinks": vanphong.sinks}


def test_the_worker_s_own_packages_are_the_ones_the_table_derives() -> None:
    assert set(OWN_PACKAGES) == set(OWN)


@pytest.mark.parametrize("package", sorted(OWN))
def test_every_module_of_streams_and_sinks_is_charged_to_itself(package: str) -> None:
    folder = Path(OWN[package].__path__[0])
    modules = _modules(folder)
    assert modules, folder
    label = OWN_PACKAGES[package]
    for module in modules:
        relative = module.replace(".", "/") + ".py"
        want = f"{label}: vanphong.{package}.{module}"
        # py-spy's short file name, an older revision's top-level folder, a full path
        for file in (
            f"vanphong/{package}/{relative}",
            f"{package}/{relative}",
            f"{ROOT}/vanphong/{package}/{relative}",
        ):
            assert part_of(file) == want, file


def test_another_package_s_streams_folder_is_not_the_worker() -> None:
    assert part_of("anyio/streams/memory.py") is None
    assert part_of("faust/streams.py") == "faust + mode (streams, acks, commits)"


def test_every_project_file_the_table_names_exists() -> None:
    named = [
        fragment
        for _, fragments in PARTS
        for fragment in fragments
        if fragment.endswith(".py") and fragment.split("/")[0] in ("vanphong", "schemas")
    ]
    assert named
    missing = [f for f in named if not (ROOT / f).is_file()]
    assert not missing, f"bench/profile.py names files that do not exist: {missing}"


def test_a_sample_is_charged_to_the_deepest_known_frame_below_the_loop(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    loop = "Handle._run (asyncio/events.py:84)"
    raw.write_text(
        f"{loop};write (vanphong/streams/runtime.py:10);execute (asyncpg/connection.py:5) 3\n"
        f"{loop};commit (vanphong/streams/checkpoint.py:20);helper (somewhere/else.py:1) 1\n"
        "select (selectors.py:468) 1\n"
    )
    text = summarise(raw)
    assert " 60.0 %  asyncpg (encode, protocol)" in text
    assert " 20.0 %  worker: vanphong.streams.checkpoint" in text
    assert " 20.0 %  asyncio event loop (scheduling, epoll)" in text
