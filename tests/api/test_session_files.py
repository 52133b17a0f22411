"""The session files are written the way their docstrings promise: WAL, no disk sync per turn,
and a committed turn survives the process dying right after it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

from api.sessions import open_checkpointer
from routeur.conversations import ConversationStore
from tests.support.api_support import ROOT

NORMAL = 1


async def test_the_checkpointer_commits_without_a_disk_sync(settings_factory):
    async with open_checkpointer(settings_factory("sync-sessions")) as saver:
        async with saver.conn.execute("PRAGMA synchronous") as cursor:
            assert (await cursor.fetchone())[0] == NORMAL
        async with saver.conn.execute("PRAGMA journal_mode") as cursor:
            assert (await cursor.fetchone())[0] == "wal"


async def test_the_conversation_store_commits_without_a_disk_sync(settings_factory):
    async with ConversationStore.open(settings_factory("sync-conversations")) as store:
        rows = await store._db.fetchall("PRAGMA synchronous")
    assert rows[0][0] == NORMAL


def test_a_recorded_turn_survives_the_process_being_killed(settings_factory):
    settings = settings_factory("killed")
    code = textwrap.dedent(
        f"""
        import asyncio, os, signal
        from routeur.conversations import ConversationStore, TurnRecord
        from routeur.settings import Settings

        async def main():
            async with ConversationStore.open(Settings(_env_file=None, data_dir={str(settings.data_dir)!r})) as store:
                await store.record_turn("alice", TurnRecord(message_id="m1", session_id="s1", question="q", answer="a",
                    asked_at="2026-01-01T00:00:00Z", answered_at="2026-01-01T00:00:01Z", agent="V2", model="local-extractive",
                    project_id="default"))
                os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint of the log into the database

        asyncio.run(main())
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr[-2000:]
    with sqlite3.connect(settings.resolved_conversations_path()) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert connection.execute("SELECT answer FROM turns WHERE message_id = 'm1'").fetchone() == ("a",)
