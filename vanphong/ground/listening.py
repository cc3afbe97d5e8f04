"""What a process that listens on HTTP (the worker's web endpoints, ``vanphong serve``) tells its
supervisor: the port it really bound (``0`` lets the OS choose one) and a port file written so
that a reader never sees half of it."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web


def bound_port(runner: web.AppRunner, configured: int) -> int:
    """The port the server listens on: the configured one, or the one the OS chose for 0."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return configured


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` so that a reader sees the whole file or none (a rename is atomic)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)
