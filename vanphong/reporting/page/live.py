"""Live figures: an open report follows the batches as they commit (issue 19 part 3).

The worker's sink sends ``NOTIFY vanphong_committed`` from each batch's own transaction
(sinks/postgres.py), so PostgreSQL delivers it exactly when the batch's figures become
visible, and never for a batch rolled back. The page process holds **one** ``LISTEN``
connection, whatever the number of open pages, and fans out:

* notifications are coalesced: a refresh round starts at most every ``ROUND_S`` (and
  ``SETTLE_S`` after the first notification, so that a burst of batches is one round);
* a round asks each distinct report once (same selection, same province or national: one
  query however many pages show it), each in a transaction as that viewer's province reader
  (scope.py), so a page never receives what its viewer may not see;
* a page is sent the report only when it differs from what it was last sent (and once when
  it subscribes, so that nothing committed between its first load and its subscription is
  lost), over Server-Sent Events (``/api/live``), with the time of the round.

The worker does nothing per page: one ``pg_notify`` per batch, delivered by PostgreSQL to one
listener. A lost listening connection is made again and followed by a round."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
import orjson
from aiohttp import web

from vanphong.ground.logs import get_logger
from vanphong.ground.settings import Settings
from vanphong.reporting import database, queries
from vanphong.reporting.jsonview import report_json
from vanphong.reporting.page.scope import as_viewer
from vanphong.reporting.page.selection import BadRequest, Selection
from vanphong.reporting.page.viewer import Viewer

CHANNEL = "vanphong_committed"
SETTLE_S = 0.2  # after a notification, wait for the rest of a burst
ROUND_S = 1.0  # at most one refresh round per second
KEEPALIVE_S = 15.0  # a comment line, so proxies keep the stream and expiry is noticed
RECONNECT_S = 2.0
PARALLEL = 4  # reports asked at once in a round

log = get_logger("vanphong.serve.live")
Key = tuple[str, str, tuple[tuple[str, str], ...]]


@dataclass(eq=False)
class Subscriber:
    """One open page: what it shows, as whom, and the last body it was sent."""

    viewer: Viewer
    selection: Selection
    expires_at: float
    inbox: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(maxsize=1))
    last: bytes | None = None

    @property
    def key(self) -> Key:
        return (
            self.viewer.scope,
            self.viewer.province or "",
            tuple(self.selection.query().items()),
        )

    def offer(self, report: bytes, at: str) -> None:
        """Send ``report`` if it is not what the page shows; keep only the newest: a slow page
        skips the ones it had no time for."""
        if report == self.last:
            return
        self.last = report
        with contextlib.suppress(asyncio.QueueEmpty):
            self.inbox.get_nowait()
        self.inbox.put_nowait(b'{"updated_at":"' + at.encode() + b'","report":' + report + b"}")

    def close(self) -> None:
        """End the page's stream (the server is stopping): an empty body says so."""
        with contextlib.suppress(asyncio.QueueEmpty):
            self.inbox.get_nowait()
        self.inbox.put_nowait(b"")


class Hub:
    """The page process's one listener and its subscribers."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.subscribers: set[Subscriber] = set()
        self.wake = asyncio.Event()
        self.notifications = 0
        self.rounds = 0
        self.queries = 0

    def notified(self, *_: object) -> None:
        self.notifications += 1
        self.wake.set()

    def join(self, subscriber: Subscriber) -> None:
        self.subscribers.add(subscriber)
        self.wake.set()  # its first body comes with the next round

    def leave(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    async def listen(self) -> None:
        """Hold the LISTEN connection; make it again when it is lost."""
        url, _variable = database.reporting_url(self.settings)
        while True:
            try:
                conn = await database.connect(url)
            except Exception as exc:  # the database is away: try again, pages keep their figures
                log.warning("live_listen_failed", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(RECONNECT_S)
                continue
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
            try:
                await conn.add_listener(CHANNEL, self.notified)
                self.wake.set()  # what committed while nobody listened
                await lost.wait()
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("live_listen_lost", error=f"{type(exc).__name__}: {exc}")
            finally:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2)
            await asyncio.sleep(RECONNECT_S)

    async def refresh(self) -> None:
        """Rounds, coalesced: one per burst of notifications, at most one per ROUND_S."""
        while True:
            await self.wake.wait()
            started = time.monotonic()
            await asyncio.sleep(SETTLE_S)
            self.wake.clear()
            if self.subscribers:
                await self.round()
            await asyncio.sleep(max(0.0, ROUND_S - (time.monotonic() - started)))

    async def round(self) -> None:
        self.rounds += 1
        groups: dict[Key, list[Subscriber]] = {}
        now = time.time()
        for subscriber in list(self.subscribers):
            if subscriber.expires_at > now:
                groups.setdefault(subscriber.key, []).append(subscriber)
        at = datetime.now(self.settings.zone).strftime("%H:%M:%S")
        limit = asyncio.Semaphore(PARALLEL)

        async def one(members: list[Subscriber]) -> None:
            async with limit:
                report = await self.report(members[0])
            if report is not None:
                for member in members:
                    member.offer(report, at)

        await asyncio.gather(*(one(m) for m in groups.values()))

    async def report(self, subscriber: Subscriber) -> bytes | None:
        """The report as its viewer may see it (None: not now)."""
        selection = subscriber.selection
        self.queries += 1
        try:
            async with self.pool.acquire() as conn:
                report = await as_viewer(
                    conn,
                    subscriber.viewer,
                    selection.lang,
                    lambda c: queries.full_report(
                        c, selection.unit_id, selection.period, selection.basis
                    ),
                    selection.unit_id,
                )
        except BadRequest:
            return None  # refused now (a grant revoked): the page keeps what it had
        except Exception as exc:
            log.warning("live_refresh_failed", error=f"{type(exc).__name__}: {exc}")
            return None
        body = report_json(report, selection.lang)
        body["selection"] = selection.query()
        return orjson.dumps(body)


HUB: web.AppKey[Hub] = web.AppKey("hub", Hub)


async def close_streams(application: web.Application) -> None:
    """On shutdown (aiohttp's on_shutdown), end every open stream, so that a stopping server
    does not wait for pages that would stay forever (EventSource reconnects elsewhere)."""
    hub = application.get(HUB)
    if hub is not None:
        for subscriber in list(hub.subscribers):
            subscriber.close()


def hub_context(
    pool: asyncpg.Pool, settings: Settings
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The hub and its two tasks for the application's lifetime (aiohttp's cleanup_ctx)."""

    async def context(application: web.Application) -> AsyncIterator[None]:
        hub = Hub(pool, settings)
        application[HUB] = hub
        tasks = [asyncio.create_task(hub.listen()), asyncio.create_task(hub.refresh())]
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    return context


async def stream(request: web.Request, subscriber: Subscriber) -> web.StreamResponse:
    """Server-Sent Events: ``event: report`` with the body each time it changes, a comment
    every KEEPALIVE_S, and ``event: expired`` when the session ends (the page goes to login)."""
    hub = request.app[HUB]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx: do not hold the stream back
        }
    )
    await response.prepare(request)
    hub.join(subscriber)
    try:
        while True:
            if time.time() >= subscriber.expires_at:
                await response.write(b"event: expired\ndata: {}\n\n")
                break
            wait = min(KEEPALIVE_S, max(0.1, subscriber.expires_at - time.time()))
            try:
                body = await asyncio.wait_for(subscriber.inbox.get(), timeout=wait)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if not body:
                break  # the server is stopping
            await response.write(b"event: report\ndata: " + body + b"\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.leave(subscriber)
    return response
