"""The installed wheel claims only ``vanphong`` (issue 17).

The repository keeps the design's top-level folders (streams/, schemas/, sinks/, deploy/); they
are linked into the package (``vanphong/streams -> ../streams``, ...) and imported as
``vanphong.streams``. This test builds the wheel the way the container image does, installs it
into a fresh virtual environment and checks that nothing but ``vanphong`` lands in
site-packages, that the data files travel with their modules, and that the installed copy (not
the working tree) is what imports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINKED = ("streams", "schemas", "sinks", "deploy")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # From a copy of what the image copies (deploy/production/container/Containerfile), so that
    # a stale build/ left in the working tree cannot slip old modules into the wheel.
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    shutil.copy(ROOT / "pyproject.toml", src)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("vanphong", *LINKED):
        shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=skip)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)],
        check=True,
        timeout=600,
    )
    (built,) = out.glob("vanphong-*.whl")
    return built


def test_the_repository_links_each_top_level_folder_into_the_package() -> None:
    for name in LINKED:
        link = ROOT / "vanphong" / name
        assert link.is_symlink() and link.resolve() == (ROOT / name).resolve(), name


def test_the_wheel_holds_only_the_vanphong_package_and_its_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"vanphong", wheel.name.split("-py3")[0] + ".dist-info"}, tops
    top_level = next(n for n in names if n.endswith("top_level.txt"))
    assert zipfile.ZipFile(wheel).read(top_level).split() == [b"vanphong"]
    for expected in (
        "vanphong/streams/runtime.py",
        "vanphong/sinks/migrations/0001_core.sql",
        "vanphong/schemas/v1/DocumentIssued.avsc",
        "vanphong/deploy/__init__.py",
    ):
        assert expected in names, expected


def test_a_fresh_environment_gets_no_generic_top_level_package(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    before = {p.name for p in site.iterdir()}
    pip = [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(pip, check=True, timeout=300)
    added = {p.name for p in site.iterdir()} - before
    assert {name for name in added if not name.endswith(".dist-info")} == {"vanphong"}, added
    # The installed copy imports, with this environment's dependencies behind it (a PYTHONPATH
    # entry's .pth files are not run, so this environment's editable install stays out of it).
    found = subprocess.run(
        [python, "-c", "import vanphong.streams.pipeline as p; print(p.__file__)"],
        env={**os.environ, "PYTHONPATH": sysconfig.get_path("purelib")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip().startswith(str(site)), found.stdout
