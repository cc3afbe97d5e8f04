"""The spinner ``up`` and ``down`` show while they work."""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape


class Progress:
    """A rich spinner showing the current step; finished steps are printed with their time."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status = console.status("starting…")
        self._step: str | None = None
        self._t0 = 0.0

    def __enter__(self) -> Progress:
        self._status.__enter__()
        return self

    def step(self, text: str) -> None:
        self._finish()
        self._step, self._t0 = text, time.monotonic()
        self._status.update(escape(text) + "…")

    def done(self) -> None:
        """Finish the current step (before printing a result under it)."""
        self._finish()

    def _finish(self, ok: bool = True) -> None:
        if self._step is not None:
            mark = "[green]✓[/]" if ok else "[red]✗[/]"
            took = time.monotonic() - self._t0
            self.console.print(f"{mark} {escape(self._step)} [dim]({took:.1f} s)[/]")
            self._step = None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._finish(ok=exc_type is None)
        self._status.__exit__(None, None, None)
