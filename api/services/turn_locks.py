"""One turn at a time per session.

Two turns racing on one thread both read the same checkpoint and the last write wins: the other
user turn is lost. A turn therefore holds its session's lock from before the graph reads the
thread until its stream has ended. A second turn is rejected (409) or, with
``ROUTEUR_TURN_CONFLICT=enqueue``, waits at most ``ROUTEUR_TURN_WAIT_S`` — LangGraph's
``multitask_strategy`` reject / enqueue.

- SQLite sessions (one process): an ``asyncio.Lock`` per thread, dropped when nobody holds or
  waits for it.
- Postgres sessions (several workers): a session-level advisory lock keyed by the thread id, on a
  connection of its own held for the turn; a crashed worker's connection closes and frees it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from litestar.exceptions import HTTPException

from routeur.settings import Settings

BUSY = "A turn is already running in this session"
POLL_S = 0.05


class TurnBusyError(HTTPException):
    status_code = 409


class Lease(Protocol):
    async def release(self) -> None: ...


@runtime_checkable
class TurnLocks(Protocol):
    async def acquire(self, thread_id: str) -> Lease:
        """The session's lock, or ``TurnBusyError`` (at once, or after the bounded wait)."""
        ...


@dataclass
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class _LocalLease:
    def __init__(self, locks: LocalTurnLocks, thread_id: str):
        self._locks, self._thread_id, self._held = locks, thread_id, True

    async def release(self) -> None:
        if self._held:
            self._held = False
            self._locks._release(self._thread_id)


class LocalTurnLocks:
    """In-process locks: enough when sessions are on SQLite (one process owns the file)."""

    def __init__(self, *, enqueue: bool, wait_s: float):
        self.enqueue, self.wait_s = enqueue, wait_s
        self._entries: dict[str, _Entry] = {}

    async def acquire(self, thread_id: str) -> Lease:
        entry = self._entries.setdefault(thread_id, _Entry())
        if not self.enqueue:
            if entry.lock.locked():
                raise TurnBusyError(detail=BUSY)
            entry.users += 1
            await entry.lock.acquire()  # free: taken at once, with no suspension in between
            return _LocalLease(self, thread_id)
        entry.users += 1
        try:
            await asyncio.wait_for(entry.lock.acquire(), timeout=self.wait_s)
        except TimeoutError:
            self._drop(thread_id, entry)
            raise TurnBusyError(detail=f"{BUSY}: still running after {self.wait_s:g} s") from None
        except BaseException:
            self._drop(thread_id, entry)
            raise
        return _LocalLease(self, thread_id)

    def _release(self, thread_id: str) -> None:
        entry = self._entries[thread_id]
        entry.lock.release()
        self._drop(thread_id, entry)

    def _drop(self, thread_id: str, entry: _Entry) -> None:
        entry.users -= 1
        if entry.users == 0 and not entry.lock.locked():
            self._entries.pop(thread_id, None)


class _PostgresLease:
    def __init__(self, connection: Any, key: str):
        self._connection, self._key = connection, key

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (self._key,))
        finally:
            await connection.close()


class PostgresTurnLocks:
    """Advisory locks shared by every worker on the sessions' database."""

    def __init__(self, url: str, *, enqueue: bool, wait_s: float):
        self.url, self.enqueue, self.wait_s = url, enqueue, wait_s

    async def acquire(self, thread_id: str) -> Lease:
        import psycopg

        connection = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        try:
            deadline = time.monotonic() + self.wait_s
            while True:
                cursor = await connection.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (thread_id,))
                if (await cursor.fetchone())[0]:
                    return _PostgresLease(connection, thread_id)
                if not self.enqueue:
                    raise TurnBusyError(detail=BUSY)
                if time.monotonic() >= deadline:
                    raise TurnBusyError(detail=f"{BUSY}: still running after {self.wait_s:g} s")
                await asyncio.sleep(POLL_S)
        except BaseException:
            await connection.close()
            raise


def build_turn_locks(settings: Settings) -> TurnLocks:
    enqueue = settings.turn_conflict == "enqueue"
    if settings.postgres_url is not None:
        return PostgresTurnLocks(settings.postgres_url.get_secret_value(), enqueue=enqueue, wait_s=settings.turn_wait_s)
    return LocalTurnLocks(enqueue=enqueue, wait_s=settings.turn_wait_s)


@asynccontextmanager
async def holding(locks: TurnLocks, thread_id: str) -> AsyncIterator[None]:
    lease = await locks.acquire(thread_id)
    try:
        yield
    finally:
        await lease.release()
