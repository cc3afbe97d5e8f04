"""The local stack's error: what failed, what to do about it, and the tail of the logs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


class StackError(RuntimeError):
    """A failure of ``up``/``down`` with what to do about it and the tail of the relevant logs."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        logs: Sequence[Path] = (),
        detail: str | None = None,
        tail_lines: int = 25,
    ) -> None:
        self.message = message
        self.hint = hint
        self.detail = (detail or "").strip()
        self.log_tails = [(p, tail(p, tail_lines)) for p in logs]
        super().__init__(self.render())

    def render(self) -> str:
        parts = [self.message]
        if self.detail:
            parts.append(_indent(self.detail))
        for path, text in self.log_tails:
            if text:
                parts.append(f"last lines of {path}:\n{_indent(text)}")
        if self.hint:
            parts.append(f"what to do: {self.hint}")
        return "\n".join(parts)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines())


def tail(path: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of a log file ('' if it does not exist)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def describe_exc(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
