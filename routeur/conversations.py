"""Sessions metadata: what the checkpointer does not hold.

The checkpointer keeps a session's messages (LangGraph's state); this store keeps what a chat
frontend needs around them: each session's owner, title and dates, one record per answered turn
(its stable message id, sources, agent, model, the request's filter) and the user's feedback.
It lives where the sessions live: a SQLite file under the data dir by default, the sessions'
Postgres database when ``ROUTEUR_POSTGRES_URL`` is set (so every replica sees the same titles
and feedback). Every write is one statement or one transaction: a crash leaves the previous
state whole.

No web framework here: ``routeur feedback export`` reads it from the command line.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from routeur.settings import Settings

TITLE_CHARS = 80
Rating = Literal["like", "dislike"]

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS conversations (
        owner TEXT NOT NULL,
        session_id TEXT NOT NULL,
        title TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (owner, session_id)
    )""",
    """CREATE TABLE IF NOT EXISTS turns (
        message_id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        session_id TEXT NOT NULL,
        question TEXT NOT NULL,
        answer TEXT NOT NULL,
        asked_at TEXT NOT NULL,
        answered_at TEXT NOT NULL,
        agent TEXT NOT NULL,
        model TEXT NOT NULL,
        project_id TEXT NOT NULL,
        request_sources TEXT NOT NULL,
        sources TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS turns_by_session ON turns (owner, session_id)",
    """CREATE TABLE IF NOT EXISTS feedback (
        message_id TEXT PRIMARY KEY,
        rating TEXT,
        comment TEXT,
        updated_at TEXT NOT NULL
    )""",
)


@dataclass(frozen=True)
class Conversation:
    session_id: str
    title: str
    created_at: str
    updated_at: str
    turns: int = 0


@dataclass(frozen=True)
class Feedback:
    message_id: str
    rating: Rating | None
    comment: str | None
    updated_at: str


@dataclass(frozen=True)
class TurnRecord:
    message_id: str
    session_id: str
    question: str
    answer: str
    asked_at: str
    answered_at: str
    agent: str
    model: str
    project_id: str
    request_sources: list[str] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    feedback: Feedback | None = None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def title_of(question: str) -> str:
    """The first question, on one line, cut at a word boundary."""
    text = " ".join(question.split())
    if len(text) <= TITLE_CHARS:
        return text
    cut = text[: TITLE_CHARS - 1].rsplit(" ", 1)[0] or text[: TITLE_CHARS - 1]
    return cut + "…"


class _Database:
    """The two engines behind one tiny interface: SQL with ``?`` placeholders, rows as tuples."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...
    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]: ...
    async def transaction(self, statements: list[tuple[str, Sequence[Any]]]) -> None: ...


class _Sqlite(_Database):
    def __init__(self, connection: Any):
        self._db = connection
        # One transaction at a time on the shared connection, and no read in the middle of one:
        # the connection sees its own uncommitted statements (a turn before its session row).
        self._lock = asyncio.Lock()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._lock:
            cursor = await self._db.execute(sql, params)
            await self._db.commit()
            return cursor.rowcount

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        async with self._lock, self._db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def transaction(self, statements: list[tuple[str, Sequence[Any]]]) -> None:
        async with self._lock:
            try:
                for sql, params in statements:
                    await self._db.execute(sql, params)
                await self._db.commit()
            except BaseException:
                await self._db.rollback()
                raise


class _Postgres(_Database):
    def __init__(self, pool: Any):
        self._pool = pool

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(self._sql(sql), params)
            return cursor.rowcount

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(self._sql(sql), params)
            return list(await cursor.fetchall())

    async def transaction(self, statements: list[tuple[str, Sequence[Any]]]) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            for sql, params in statements:
                await conn.execute(self._sql(sql), params)


class ConversationStore:
    def __init__(self, database: _Database):
        self._db = database

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator[ConversationStore]:
        if settings.postgres_url is not None:
            from psycopg_pool import AsyncConnectionPool

            async with AsyncConnectionPool(
                settings.postgres_url.get_secret_value(), min_size=1, max_size=4, kwargs={"autocommit": True}, open=False
            ) as pool:
                database = _Postgres(pool)
                for statement in SCHEMA:
                    await database.execute(statement)
                yield cls(database)
            return
        import aiosqlite

        path = settings.resolved_conversations_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        async with aiosqlite.connect(path) as connection:
            await connection.execute("PRAGMA journal_mode = WAL")
            # As the session checkpointer: atomic and crash-safe commits, no disk sync per turn recorded.
            await connection.execute("PRAGMA synchronous = NORMAL")
            database = _Sqlite(connection)
            for statement in SCHEMA:
                await database.execute(statement)
            yield cls(database)

    # -- sessions ----------------------------------------------------------------------------

    async def record_turn(self, owner: str, turn: TurnRecord) -> None:
        """The answered turn, and its session created (titled by this first question) or touched."""
        await self._db.transaction(
            [
                (
                    "INSERT INTO conversations (owner, session_id, title, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (owner, session_id) DO UPDATE SET updated_at = excluded.updated_at",
                    (owner, turn.session_id, title_of(turn.question), turn.asked_at, turn.answered_at),
                ),
                (
                    "INSERT INTO turns (message_id, owner, session_id, question, answer, asked_at, answered_at, agent, model, "
                    "project_id, request_sources, sources) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        turn.message_id, owner, turn.session_id, turn.question, turn.answer, turn.asked_at, turn.answered_at,
                        turn.agent, turn.model, turn.project_id, json.dumps(turn.request_sources), json.dumps(turn.sources),
                    ),
                ),
            ]
        )  # fmt: skip

    async def list(self, owner: str, *, page: int, page_size: int) -> tuple[list[Conversation], int]:
        """The owner's sessions, most recently updated first."""
        total = (await self._db.fetchall("SELECT COUNT(*) FROM conversations WHERE owner = ?", (owner,)))[0][0]
        rows = await self._db.fetchall(
            "SELECT c.session_id, c.title, c.created_at, c.updated_at, "
            "(SELECT COUNT(*) FROM turns t WHERE t.owner = c.owner AND t.session_id = c.session_id) "
            "FROM conversations c WHERE c.owner = ? ORDER BY c.updated_at DESC, c.session_id LIMIT ? OFFSET ?",
            (owner, page_size, (page - 1) * page_size),
        )
        return [Conversation(*row) for row in rows], int(total)

    async def get(self, owner: str, session_id: str) -> Conversation | None:
        rows = await self._db.fetchall(
            "SELECT c.session_id, c.title, c.created_at, c.updated_at, "
            "(SELECT COUNT(*) FROM turns t WHERE t.owner = c.owner AND t.session_id = c.session_id) "
            "FROM conversations c WHERE c.owner = ? AND c.session_id = ?",
            (owner, session_id),
        )
        return Conversation(*rows[0]) if rows else None

    async def rename(self, owner: str, session_id: str, title: str) -> bool:
        changed = await self._db.execute(
            "UPDATE conversations SET title = ?, updated_at = ? WHERE owner = ? AND session_id = ?", (title, now(), owner, session_id)
        )
        return changed > 0

    async def delete(self, owner: str, session_id: str) -> None:
        """The session's metadata, its turns and their feedback, together."""
        await self._db.transaction(
            [
                (
                    "DELETE FROM feedback WHERE message_id IN (SELECT message_id FROM turns WHERE owner = ? AND session_id = ?)",
                    (owner, session_id),
                ),
                ("DELETE FROM turns WHERE owner = ? AND session_id = ?", (owner, session_id)),
                ("DELETE FROM conversations WHERE owner = ? AND session_id = ?", (owner, session_id)),
            ]
        )

    async def turns(self, owner: str, session_id: str) -> list[TurnRecord]:
        rows = await self._db.fetchall(_TURN_SELECT + "WHERE t.owner = ? AND t.session_id = ? ORDER BY t.asked_at", (owner, session_id))
        return [_turn(row) for row in rows]

    async def turn(self, owner: str, message_id: str) -> TurnRecord | None:
        rows = await self._db.fetchall(_TURN_SELECT + "WHERE t.owner = ? AND t.message_id = ?", (owner, message_id))
        return _turn(rows[0]) if rows else None

    # -- feedback ----------------------------------------------------------------------------

    async def set_feedback(self, message_id: str, rating: Rating | None, comment: str | None) -> Feedback:
        """Replace the answer's feedback (a later call wins)."""
        feedback = Feedback(message_id=message_id, rating=rating, comment=comment, updated_at=now())
        await self._db.execute(
            "INSERT INTO feedback (message_id, rating, comment, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (message_id) DO UPDATE SET rating = excluded.rating, comment = excluded.comment, "
            "updated_at = excluded.updated_at",
            (message_id, rating, comment, feedback.updated_at),
        )
        return feedback

    async def rated(self, rating: Rating | None = None) -> list[TurnRecord]:
        """Every rated answer (or those with ``rating``), oldest first: the material of a dataset."""
        sql = _TURN_SELECT + "WHERE f.rating IS NOT NULL" + (" AND f.rating = ?" if rating else "") + " ORDER BY t.answered_at"
        return [_turn(row) for row in await self._db.fetchall(sql, (rating,) if rating else ())]


_TURN_SELECT = (
    "SELECT t.message_id, t.session_id, t.question, t.answer, t.asked_at, t.answered_at, t.agent, t.model, t.project_id, "
    "t.request_sources, t.sources, f.rating, f.comment, f.updated_at FROM turns t "
    "LEFT JOIN feedback f ON f.message_id = t.message_id "
)


def _turn(row: tuple) -> TurnRecord:
    feedback = Feedback(message_id=row[0], rating=row[11], comment=row[12], updated_at=row[13]) if row[13] else None
    return TurnRecord(
        message_id=row[0], session_id=row[1], question=row[2], answer=row[3], asked_at=row[4], answered_at=row[5],
        agent=row[6], model=row[7], project_id=row[8], request_sources=json.loads(row[9]), sources=json.loads(row[10]),
        feedback=feedback,
    )  # fmt: skip
