"""An address that moves: a TCP proxy on a fixed port standing in for a virtual IP or a DNS
name, for the failover tests (tests/test_failover.py).

It forwards every connection to one PostgreSQL server; :meth:`MovingAddress.move` points it at
another and cuts the connections it carries, as a virtual IP does when it moves to the promoted
standby: clients see their connections reset, and connect again to the same address.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field


@dataclass
class MovingAddress:
    """127.0.0.1:``port`` forwards to 127.0.0.1:``target``; :meth:`move` points it elsewhere and
    cuts the connections it carries, as a virtual IP does when it moves to another machine."""

    target: int
    port: int = 0
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _thread: threading.Thread | None = None
    _server: asyncio.AbstractServer | None = None

    def start(self) -> MovingAddress:
        started = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", self.port)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="moving-address", daemon=True)
        self._thread.start()
        if not started.wait(30):
            raise AssertionError("the moving address did not start listening")
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()  # nothing there now: the client sees a refused connection
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def move(self, target: int) -> None:
        """Forward new connections to ``target``; every connection carried now is cut."""

        def go() -> None:
            self.target = target
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()

        self._loop.call_soon_threadsafe(go)

    def close(self) -> None:
        def stop() -> None:
            if self._server is not None:
                self._server.close()
            for w in list(self._writers):
                w.transport.abort()
            self._loop.stop()

        self._loop.call_soon_threadsafe(stop)
        if self._thread is not None:
            self._thread.join(30)
