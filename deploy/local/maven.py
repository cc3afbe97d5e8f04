"""The one fetch from Maven Central: ``mvn`` run once per component, a marker written only after
a complete download, so an interrupted fetch is simply fetched again.

Two shapes, one runner: an application archive (Apicurio Registry's tar.gz, Keycloak's zip)
copied with ``dependency:copy`` and unpacked into its home, and Kafka's jars, the runtime
dependencies of ``kafka/pom.xml`` copied with ``dependency:copy-dependencies``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

from vanphong.deploy.local.errors import StackError
from vanphong.deploy.local.spinner import Progress
from vanphong.deploy.local.state import now

DOWNLOAD_TIMEOUT = 900.0  # the first download of a component
MARKER = ".complete"


def read_marker(directory: Path) -> dict[str, object] | None:
    """What the marker of a complete fetch says, or None if there is none."""
    try:
        marker = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def write_marker(directory: Path, **facts: object) -> None:
    (directory / MARKER).write_text(json.dumps({**facts, "fetched_at": now()}, indent=2) + "\n")


def maven_cached(home: Path, artifact: str, must_contain: str) -> bool:
    """True if ``home`` holds a complete unpack of ``artifact`` (its marker says so)."""
    marker = read_marker(home)
    return (
        marker is not None and marker.get("artifact") == artifact and (home / must_contain).exists()
    )


def find_mvn(what: str, off: str | None = None) -> str:
    """Maven, or a StackError that says how to install it (``off``: how to run the stack without
    the component that needs it)."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            f"Maven (mvn) is not installed; it fetches {what} from Maven Central on first use",
            hint="apt-get install -y maven" + (f" (or {off})" if off else ""),
        )
    return mvn


def run_maven(mvn: str, what: str, args: list[str], cwd: Path, log: Path) -> None:
    """Run ``mvn -q -B <args>`` in ``cwd``, its output in ``log``; a StackError that says what to
    do when Maven is slow or fails."""
    try:
        with log.open("wb") as out:
            rc = subprocess.run(
                [mvn, "-q", "-B", *args],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=DOWNLOAD_TIMEOUT,
            ).returncode
    except subprocess.TimeoutExpired:
        raise StackError(
            f"fetching {what} took longer than {DOWNLOAD_TIMEOUT:.0f} s",
            hint="check the connection to Maven Central (repo.maven.apache.org), then run "
            "`vanphong stack up` again",
            logs=[log],
        ) from None
    if rc != 0:
        raise StackError(
            f"Maven could not fetch {what} (exit {rc})",
            hint="Maven Central (repo.maven.apache.org) must be reachable; behind a proxy, "
            "configure it in ~/.m2/settings.xml; then run `vanphong stack up` again",
            logs=[log],
        )


def fetch_archive(
    artifact: str, home: Path, name: str, must_contain: str, progress: Progress, off: str
) -> None:
    """Download ``artifact`` (a tar.gz or a zip) and unpack it into ``home``, once. An archive
    with one top directory (a zip distribution) is unpacked without it."""
    if maven_cached(home, artifact, must_contain):
        return
    mvn = find_mvn(name, off)
    progress.step(f"fetching {name} from Maven Central (first run only)")
    download = home.with_name(home.name + ".download")
    partial = home.with_name(home.name + ".partial")
    shutil.rmtree(download, ignore_errors=True)
    shutil.rmtree(partial, ignore_errors=True)
    download.mkdir(parents=True)
    log = home.with_name(home.name + "-mvn.log")
    args = ["dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={download}"]
    run_maven(mvn, name, args, download, log)
    archives = [*download.glob("*.tar.gz"), *download.glob("*.zip")]
    if len(archives) != 1:
        raise StackError(f"Maven fetched no single archive of {artifact}", logs=[log])
    progress.step(f"unpacking {name}")
    _unpack(archives[0], partial)
    tops = list(partial.iterdir())
    root = tops[0] if len(tops) == 1 and tops[0].is_dir() else partial
    if not (root / must_contain).exists():
        raise StackError(f"{archives[0]} holds no {must_contain}", logs=[log])
    shutil.rmtree(home, ignore_errors=True)
    root.rename(home)
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(download, ignore_errors=True)
    write_marker(home, artifact=artifact)


def fetch_dependencies(
    pom: Path, home: Path, libs: Path, what: str, must_contain: str, progress: Progress
) -> None:
    """Copy the runtime dependencies of ``pom`` into ``libs`` (replacing it whole); ``home``
    holds the build directory and the log. The caller writes the marker."""
    mvn = find_mvn(what)
    progress.step(f"fetching {what} from Maven Central (first run only)")
    build = home / "build"
    build.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pom, build / "pom.xml")
    partial = home / "libs.partial"
    shutil.rmtree(partial, ignore_errors=True)
    log = home / "mvn.log"
    args = [
        "-f",
        str(build / "pom.xml"),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        "-Dmdep.prependGroupId=true",
        f"-DoutputDirectory={partial}",
    ]
    run_maven(mvn, what, args, build, log)
    if not (partial / must_contain).exists():
        raise StackError(
            f"Maven finished but {must_contain} is missing from {partial}",
            hint=f"check {pom}",
            logs=[log],
        )
    shutil.rmtree(libs, ignore_errors=True)
    partial.rename(libs)


def _unpack(archive: Path, into: Path) -> None:
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                target = Path(z.extract(info, into))
                mode = info.external_attr >> 16  # the Unix mode bits a zip keeps, if any
                if mode and not info.is_dir():
                    target.chmod(mode & 0o755 | 0o600)
    else:
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
