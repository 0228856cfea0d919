"""Small hand-written fakes of the Discord objects the bot's handlers touch (dpytest has no slash commands).

Every call is appended to a shared :class:`Log` as ``(event, details)``, so tests can check what was sent,
in which order, and with which ``allowed_mentions``. Nothing here talks to discord.com.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import discord

from bot.discordbot.client import NewsbotClient

_ids = itertools.count(10_000)
BOT_ID = 4242


def next_id() -> int:
    return next(_ids)


class Log(list):
    """``(event, details)`` tuples in the order they happened (appends are thread-safe)."""

    def events(self) -> list[str]:
        return [e for e, _ in self]

    def index_of(self, event: str) -> int:
        return self.events().index(event)

    def sends(self) -> list[dict]:
        """Every message sent or edited, with its keyword arguments."""
        return [d for e, d in self if e in ("followup.send", "response.send_message", "reply", "channel.send", "edit")]


@dataclass(eq=False)
class FakeUser:
    id: int = field(default_factory=next_id)
    bot: bool = False
    name: str = "user"

    def __str__(self) -> str:
        return self.name


@dataclass(eq=False)
class FakeGuild:
    id: int = field(default_factory=next_id)


class FakeTyping:
    def __init__(self, log: Log) -> None:
        self.log = log

    async def __aenter__(self) -> None:
        self.log.append(("typing", {}))

    async def __aexit__(self, *exc: object) -> None:
        return None


class FakeSentMessage:
    """A message the bot posted; ``edit`` records what changed."""

    def __init__(self, log: Log, channel: Any, content: str | None, kwargs: dict, id: int | None = None) -> None:
        self.log = log
        self.id = id or next_id()
        self.channel = channel
        self.content = content
        self.embed = kwargs.get("embed")
        self.view = kwargs.get("view")
        self.kwargs = kwargs

    async def edit(self, **kwargs: Any) -> FakeSentMessage:
        self.log.append(("edit", {"message": self, **kwargs}))
        if "content" in kwargs:
            self.content = kwargs["content"]
        if kwargs.get("embeds"):
            self.embed = kwargs["embeds"][0]
        if "view" in kwargs:
            self.view = kwargs["view"]
        return self


class FakeChannel:
    """A text channel: ``send``, ``typing`` and ``create_thread`` (threads start on a message, sharing its id)."""

    type = discord.ChannelType.text

    def __init__(self, log: Log, guild: FakeGuild | None = None, id: int | None = None) -> None:
        self.log = log
        self.id = id or next_id()
        self.guild = guild
        self.parent_id = None
        self.threads: list[FakeThread] = []
        self.fail_threads = False

    async def send(self, content: str | None = None, **kwargs: Any) -> FakeSentMessage:
        msg = FakeSentMessage(self.log, self, content, kwargs)
        self.log.append(("channel.send", {"content": content, "message": msg, **kwargs}))
        return msg

    def typing(self) -> FakeTyping:
        return FakeTyping(self.log)

    async def create_thread(self, *, name: str, message: Any = None, **kwargs: Any) -> FakeThread:
        self.log.append(("create_thread", {"name": name, "message": message, **kwargs}))
        if self.fail_threads:
            raise discord.Forbidden(_FakeHTTPResponse(403), "Missing Permissions")
        thread = FakeThread(self.log, self, owner_id=BOT_ID, id=getattr(message, "id", None))
        self.threads.append(thread)
        return thread


class FakeThread(FakeChannel):
    type = discord.ChannelType.public_thread

    def __init__(self, log: Log, parent: FakeChannel, owner_id: int, id: int | None = None) -> None:
        super().__init__(log, parent.guild, id)
        self.parent = parent
        self.parent_id = parent.id
        self.owner_id = owner_id


@dataclass
class _FakeHTTPResponse:
    status: int
    reason: str = "Forbidden"


@dataclass
class FakeReference:
    message_id: int
    resolved: Any = None


class FakeMessage:
    """A user's message; ``reply`` posts in its channel."""

    def __init__(
        self,
        log: Log,
        channel: FakeChannel,
        content: str,
        author: FakeUser | None = None,
        mentions: list[Any] | None = None,
        reference: FakeReference | None = None,
    ) -> None:
        self.log = log
        self.id = next_id()
        self.channel = channel
        self.guild = channel.guild
        self.content = content
        self.author = author or FakeUser()
        self.mentions = mentions or []
        self.reference = reference

    async def reply(self, content: str | None = None, **kwargs: Any) -> FakeSentMessage:
        msg = FakeSentMessage(self.log, self.channel, content, kwargs)
        self.log.append(("reply", {"content": content, "message": msg, **kwargs}))
        return msg


class FakeResponse:
    def __init__(self, log: Log) -> None:
        self.log = log
        self._done = False

    def is_done(self) -> bool:
        return self._done

    async def defer(self, *, ephemeral: bool = False, thinking: bool = False) -> None:
        assert not self._done, "interaction answered twice"
        self._done = True
        self.log.append(("defer", {"ephemeral": ephemeral, "thinking": thinking, "at": time.perf_counter()}))

    async def send_message(self, content: str | None = None, **kwargs: Any) -> None:
        assert not self._done, "interaction answered twice"
        self._done = True
        self.log.append(("response.send_message", {"content": content, **kwargs}))


class FakeFollowup:
    def __init__(self, log: Log, interaction: FakeInteraction) -> None:
        self.log = log
        self.interaction = interaction

    async def send(self, content: str | None = None, **kwargs: Any) -> FakeSentMessage:
        assert self.interaction.response.is_done(), "followup before the interaction was answered"
        msg = FakeSentMessage(self.log, self.interaction.channel, content, kwargs)
        self.log.append(("followup.send", {"content": content, "message": msg, **kwargs}))
        return msg


class FakeInteraction:
    """A slash-command or button interaction."""

    def __init__(
        self,
        log: Log,
        channel: FakeChannel,
        user: FakeUser | None = None,
        permissions: discord.Permissions | None = None,
        message: Any = None,
    ) -> None:
        self.log = log
        self.channel = channel
        self.channel_id = channel.id
        self.guild = channel.guild
        self.guild_id = getattr(channel.guild, "id", None)
        self.user = user or FakeUser()
        self.permissions = permissions or discord.Permissions.none()
        self.message = message
        self.response = FakeResponse(log)
        self.followup = FakeFollowup(log, self)
        self.original: FakeSentMessage | None = None

    async def edit_original_response(self, **kwargs: Any) -> FakeSentMessage:
        if self.original is None:
            self.original = FakeSentMessage(self.log, self.channel, kwargs.get("content"), kwargs)
        await self.original.edit(**kwargs)  # logs the edit
        return self.original


@dataclass
class FakeAttachment:
    filename: str
    data: bytes
    content_type: str = "text/markdown"

    @property
    def size(self) -> int:
        return len(self.data)

    async def read(self) -> bytes:
        return self.data


class RecordingService:
    """Wraps the real (fake-embedder) Newsbot: logs every ``answer`` call (from the worker thread) and its history.

    ``delay`` makes answering slow; ``fail`` makes the next N calls raise.
    """

    def __init__(self, inner: Any, log: Log, delay: float = 0.0, fail: int = 0) -> None:
        self.inner = inner
        self.log = log
        self.delay = delay
        self.fail = fail
        self.settings = inner.settings
        self.store = inner.store
        self._lock = threading.Lock()

    def answer(self, question: str, history=(), filters=None):
        self.log.append(("answer", {"question": question, "history": list(history), "thread": threading.current_thread().name}))
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            failing = self.fail > 0
            self.fail -= failing
        if failing:
            raise RuntimeError("the index exploded")
        return self.inner.answer(question, history=history, filters=filters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class FakeBotUser(FakeUser):
    pass


class ClientForTests(NewsbotClient):
    """The real bot class, logged in as a fake user; nothing connects."""

    user = FakeBotUser(id=BOT_ID, bot=True, name="newsbot")  # type: ignore[assignment]


def is_quiet(allowed_mentions: Any) -> bool:
    """True for ``AllowedMentions.none()``: no @everyone, users, roles or replied-to user is pinged."""
    return (
        isinstance(allowed_mentions, discord.AllowedMentions)
        and allowed_mentions.everyone is False
        and allowed_mentions.users is False
        and allowed_mentions.roles is False
        and allowed_mentions.replied_user is False
    )


async def ticker(stop: asyncio.Event, interval: float = 0.005) -> float:
    """Sleep ``interval`` again and again until ``stop``; the worst lateness seen (the event loop's lag), in seconds."""
    worst = 0.0
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(interval)
        worst = max(worst, time.perf_counter() - start - interval)
    return worst
