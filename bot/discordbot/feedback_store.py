"""SQLite under ``NEWSBOT_DATA_DIR``: every answer the bot posted, the votes on it, and its place in a conversation.

- ``answers``: time, guild, channel, conversation (the thread it lives in), the answer it follows up,
  question, answer text, refused, citations (JSON), mode.
- ``messages``: which Discord message ids carry which answer (a long answer takes several).
- ``votes``: one row per (answer, user): ``up`` or ``down`` and when; a vote again replaces it.
  Users are stored as a salted SHA-256 of their id (the salt lives in this database), never the raw id.

Conversation history comes from here too, so follow-ups work after a restart and need no message-content intent.
Each call opens its own short connection: safe from any thread. ``newsbot feedback`` opens it read-only, so the
votes can be read from a data dir this user cannot write.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.types import Answer, Turn

VOTES = ("up", "down")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    guild_id INTEGER,
    channel_id INTEGER,
    conversation_id INTEGER,
    parent_id INTEGER REFERENCES answers(id),
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    refused INTEGER NOT NULL,
    citations TEXT NOT NULL,
    mode TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_conversation ON answers(conversation_id, id);
CREATE TABLE IF NOT EXISTS messages (
    message_id INTEGER PRIMARY KEY,
    answer_id INTEGER NOT NULL REFERENCES answers(id)
);
CREATE TABLE IF NOT EXISTS votes (
    answer_id INTEGER NOT NULL REFERENCES answers(id),
    user_hash TEXT NOT NULL,
    vote TEXT NOT NULL CHECK (vote IN ('up', 'down')),
    time REAL NOT NULL,
    PRIMARY KEY (answer_id, user_hash)
);
"""


class FeedbackError(RuntimeError):
    """The feedback database cannot be opened, read or written; the message says why and what to do."""


def _feedback_error(path: Path, exc: BaseException, writing: bool) -> FeedbackError:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    if "locked" in reason:
        return FeedbackError(f"the feedback database {path} is busy ({reason}); try again in a moment")
    if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in reason or "malformed" in reason):
        return FeedbackError(
            f"the feedback database {path} is damaged ({reason}); move it aside and the bot starts a new one "
            "(the answers and votes in it are then no longer shown)"
        )
    if writing:
        return FeedbackError(
            f"cannot write the feedback database {path} ({reason}): the bot stores answers and votes there, so this "
            "user needs write access to it and its folder (NEWSBOT_DATA_DIR); the database itself is not damaged"
        )
    return FeedbackError(f"cannot read the feedback database {path} ({reason}): check that this user may read it and its folder")


@dataclass(frozen=True)
class StoredAnswer:
    id: int
    time: float
    guild_id: int | None
    channel_id: int | None
    conversation_id: int | None
    parent_id: int | None
    question: str
    answer: str
    refused: bool
    citations: list[dict]
    mode: str


@dataclass(frozen=True)
class Tally:
    up: int
    down: int
    answers: int  # answers posted
    voted_down: list[tuple[str, int, int]]  # (question, down votes, up votes), most down first


class FeedbackStore:
    """Answers, votes and conversations in one SQLite file."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        """Open (and create) the database; ``read_only`` opens an existing one for reading only, creating nothing."""
        self.path = Path(path)
        self.read_only = read_only
        self._salt = ""
        if read_only:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._db() as db:
                db.executescript(SCHEMA)
                row = db.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()
                if row is None:
                    db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('salt', ?)", (secrets.token_hex(16),))
                    row = db.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()
        except OSError as exc:
            raise _feedback_error(self.path, exc, writing=True) from exc
        self._salt = row[0]

    @classmethod
    def in_data_dir(cls, data_dir: Path, read_only: bool = False) -> FeedbackStore:
        return cls(Path(data_dir) / "feedback.sqlite3", read_only)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            db = self._connect_read_only() if self.read_only else sqlite3.connect(self.path, timeout=10)
        except sqlite3.Error as exc:
            raise _feedback_error(self.path, exc, writing=not self.read_only) from exc
        try:
            if not self.read_only:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            with db:  # one transaction: commit on success, roll back on error
                yield db
        except sqlite3.DatabaseError as exc:
            if type(exc) not in (sqlite3.DatabaseError, sqlite3.OperationalError):
                raise  # a constraint or a bad statement: a bug, not the file
            raise _feedback_error(self.path, exc, writing=not self.read_only) from exc
        finally:
            db.close()

    def _connect_read_only(self) -> sqlite3.Connection:
        """A read-only connection. A WAL database in a folder this user cannot write opens only as ``immutable``
        (SQLite cannot create the ``-shm`` file a plain read-only open needs), which is safe there: no one writes it."""
        uri = self.path.resolve().as_uri()
        writable = os.access(self.path.parent, os.W_OK) and os.access(self.path, os.W_OK)
        for query in ("mode=ro", "mode=ro&immutable=1") if not writable else ("mode=ro",):
            db = sqlite3.connect(f"{uri}?{query}", uri=True, timeout=10)
            try:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return db
            except sqlite3.OperationalError as exc:
                db.close()
                error = exc
        raise error

    def user_hash(self, user_id: int) -> str:
        """A salted SHA-256 of a Discord user id: one user's votes can be told apart, but not traced back."""
        if self.read_only:
            raise FeedbackError("the feedback database was opened read-only")
        return hashlib.sha256(f"{self._salt}:{int(user_id)}".encode()).hexdigest()

    # -- answers ------------------------------------------------------------------------
    def record_answer(
        self,
        answer: Answer,
        message_ids: list[int],
        guild_id: int | None,
        channel_id: int | None,
        conversation_id: int | None = None,
        parent_id: int | None = None,
    ) -> int:
        """Store a posted answer and the messages that carry it; returns its id."""
        cites = json.dumps([c.__dict__ for c in answer.citations], ensure_ascii=False)
        with self._db() as db:
            cur = db.execute(
                "INSERT INTO answers (time, guild_id, channel_id, conversation_id, parent_id, question, answer, refused, citations, mode)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (time.time(), guild_id, channel_id, conversation_id, parent_id, answer.question, answer.answer,
                 int(answer.refused), cites, answer.mode),
            )  # fmt: skip
            answer_id = int(cur.lastrowid or 0)
            db.executemany(
                "INSERT OR REPLACE INTO messages (message_id, answer_id) VALUES (?, ?)", [(m, answer_id) for m in message_ids]
            )
        return answer_id

    def _row(self, row: tuple | None) -> StoredAnswer | None:
        if row is None:
            return None
        (id_, t, guild, channel, conv, parent, q, a, refused, cites, mode) = row
        return StoredAnswer(id_, t, guild, channel, conv, parent, q, a, bool(refused), json.loads(cites), mode)

    _COLUMNS = "id, time, guild_id, channel_id, conversation_id, parent_id, question, answer, refused, citations, mode"

    def answer(self, answer_id: int) -> StoredAnswer | None:
        with self._db() as db:
            return self._row(db.execute(f"SELECT {self._COLUMNS} FROM answers WHERE id = ?", (answer_id,)).fetchone())

    def answer_for_message(self, message_id: int) -> StoredAnswer | None:
        """The answer a Discord message carries (any part of a long one), or None."""
        with self._db() as db:
            row = db.execute(
                f"SELECT {self._COLUMNS} FROM answers WHERE id = (SELECT answer_id FROM messages WHERE message_id = ?)",
                (message_id,),
            ).fetchone()
        return self._row(row)

    def latest_in_conversation(self, conversation_id: int) -> StoredAnswer | None:
        with self._db() as db:
            row = db.execute(
                f"SELECT {self._COLUMNS} FROM answers WHERE conversation_id = ? ORDER BY id DESC LIMIT 1", (conversation_id,)
            ).fetchone()
        return self._row(row)

    def history(self, answer_id: int | None, turns: int = 3) -> list[Turn]:
        """The conversation up to and including ``answer_id``, oldest first: its last ``turns`` answered exchanges.

        Walks the chain of answers each follow-up was asked after (a thread's answers, or a reply chain).
        Refusals are left out: they hold nothing to follow up on.
        """
        out: list[Turn] = []
        seen: set[int] = set()
        current = self.answer(answer_id) if answer_id is not None else None
        while current is not None and len(out) < turns and current.id not in seen:
            seen.add(current.id)
            if not current.refused:
                cited = tuple(dict.fromkeys(str(c.get("doc_id", "")) for c in current.citations if c.get("doc_id")))
                out.append(Turn(current.question, current.answer, cited))
            current = self.answer(current.parent_id) if current.parent_id is not None else None
        return out[::-1]

    # -- votes --------------------------------------------------------------------------
    def vote(self, answer_id: int, user_id: int, vote: str) -> str | None:
        """Store one user's vote on an answer, replacing their earlier one; returns the earlier vote, if any."""
        if vote not in VOTES:
            raise ValueError(f"vote must be one of {VOTES}, not {vote!r}")
        who = self.user_hash(user_id)
        with self._db() as db:
            before = db.execute("SELECT vote FROM votes WHERE answer_id = ? AND user_hash = ?", (answer_id, who)).fetchone()
            db.execute(
                "INSERT INTO votes (answer_id, user_hash, vote, time) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (answer_id, user_hash) DO UPDATE SET vote = excluded.vote, time = excluded.time",
                (answer_id, who, vote, time.time()),
            )
        return before[0] if before else None

    def votes(self, answer_id: int) -> dict[str, int]:
        with self._db() as db:
            rows = db.execute("SELECT vote, COUNT(*) FROM votes WHERE answer_id = ? GROUP BY vote", (answer_id,)).fetchall()
        counts = dict.fromkeys(VOTES, 0)
        counts.update(dict(rows))
        return counts

    def tally(self, limit: int = 20) -> Tally:
        """Votes in all, and the questions voted down (most down votes first)."""
        if self.read_only and not self.path.exists():
            return Tally(0, 0, 0, [])  # nothing posted yet
        with self._db() as db:
            counts = dict(db.execute("SELECT vote, COUNT(*) FROM votes GROUP BY vote").fetchall())
            answers = db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
            down = db.execute(
                "SELECT a.question, SUM(v.vote = 'down') AS d, SUM(v.vote = 'up') AS u FROM votes v JOIN answers a ON a.id = v.answer_id"
                " GROUP BY a.id HAVING d > 0 ORDER BY d DESC, a.id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return Tally(counts.get("up", 0), counts.get("down", 0), answers, [(q, int(d), int(u)) for q, d, u in down])
