"""Fail a test run that skipped a test: ``python tests/check_skips.py JUNIT.xml ...``.

A skipped test is a green line that proved nothing, so `make test` allows none by accident.
pytest writes its results as JUnit XML (``--junitxml``); every skip in it, a test's own
``pytest.skip``, a ``skipif`` mark, a module skipped at collection or an ``xfail``, is a
``<skipped>`` element with the reason as its message. This script reads the files and exits 1
naming every skip whose reason is not on :data:`ALLOWED` (empty: no skip is expected in
`make test`; adding one is a decision that shows up in review). pytest's ``-rs`` prints the same
reasons at the end of its own output.

Why a checker of the report and not a conftest hook: it leaves pytest's behaviour alone when a
developer runs a few tests by hand (a fault test skips off the local stack, saying why), and
`make test` alone decides that a skip fails the run.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

#: Skip reasons (substrings of pytest's message) that `make test` accepts. Keep it empty.
ALLOWED: tuple[str, ...] = ()


def skips(report: Path) -> list[tuple[str, str]]:
    """(test id, reason) of every skipped test case in one JUnit XML report."""
    found = []
    for case in ET.parse(report).getroot().iter("testcase"):
        for skipped in case.iter("skipped"):
            test = "::".join(part for part in (case.get("classname"), case.get("name")) if part)
            reason = skipped.get("message") or ""
            detail = (skipped.text or "").strip()
            if detail and reason not in detail:  # a module skipped at collection says why here
                reason = f"{reason}: {detail}"
            found.append((test, reason or "(no reason)"))
    return found


def main(reports: list[str]) -> int:
    if not reports:
        print("usage: python tests/check_skips.py JUNIT.xml ...", file=sys.stderr)
        return 2
    unexpected = [
        (test, reason)
        for report in reports
        for test, reason in skips(Path(report))
        if not any(allowed in reason for allowed in ALLOWED)
    ]
    for test, reason in unexpected:
        print(f"unexpected skip: {test}: {reason}", file=sys.stderr)
    if unexpected:
        print(
            f"{len(unexpected)} test(s) skipped: a skip proves nothing, so `make test` fails "
            "(fix the cause, or add the reason to ALLOWED in tests/check_skips.py)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
