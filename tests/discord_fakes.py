"""The small fakes for what simcord cannot do: many /ask in flight at once (simcord settles one action at a time).

They stand in only for the interaction objects ``/ask`` touches; the bot's real ``/ask`` handler, worker
pool, thread opening and answer store run behind them. Used by ``test_discord_load.py`` and ``test_scale.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import discord

_ids = itertools.count(10_000)


class Channel:
    """A text channel in a server, where threads can be opened on a message (a thread shares its id)."""

    type = discord.ChannelType.text

    def __init__(self, guild: Any = None) -> None:
        self.id = next(_ids)
        self.guild = guild or SimpleNamespace(id=next(_ids))
        self.threads: list[Any] = []

    async def create_thread(self, *, name: str, message: Any, **fields: Any) -> Any:
        async def send(*args: Any, **kwargs: Any) -> Any:
            return SimpleNamespace(id=next(_ids))

        thread = SimpleNamespace(id=message.id, name=name, send=send)
        self.threads.append(thread)
        return thread


class Interaction:
    """What ``/ask`` uses of a ``discord.Interaction``: who and where, ``response.defer`` and ``followup.send``."""

    def __init__(self, channel: Channel) -> None:
        self.user = SimpleNamespace(id=next(_ids))
        self.channel, self.guild = channel, channel.guild
        self.channel_id, self.guild_id = channel.id, channel.guild.id
        self.extras: dict = {}
        self.deferred_at: float | None = None
        self.sent: list[str] = []
        self.response = SimpleNamespace(is_done=lambda: self.deferred_at is not None, defer=self._defer)
        self.followup = SimpleNamespace(send=self._send)

    async def _defer(self, *, thinking: bool = False, ephemeral: bool = False) -> None:
        self.deferred_at = time.perf_counter()

    async def _send(self, content: str, **fields: Any) -> Any:
        self.sent.append(content)
        return SimpleNamespace(id=next(_ids))


@dataclass
class Rush:
    """What asking everything at once gave: the interactions, each one's wait, the wall time, the worst loop lag."""

    interactions: list[Interaction]
    waits: list[float]
    wall: float
    worst_lag: float
    started: float


async def ask_at_once(ask_cog: Any, asks: list[tuple[Channel, str]], tick: float = 0.005) -> Rush:
    """Run ``/ask`` for every (channel, question) together, watching the event loop's lag meanwhile."""
    interactions = [Interaction(channel) for channel, _ in asks]
    stop = asyncio.Event()

    async def lag() -> float:
        worst = 0.0
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(tick)
            worst = max(worst, time.perf_counter() - before - tick)
        return worst

    async def one(interaction: Interaction, question: str) -> float:
        before = time.perf_counter()
        await ask_cog.handle_ask(interaction, question)
        return time.perf_counter() - before

    watch = asyncio.create_task(lag())
    started = time.perf_counter()
    try:
        waits = await asyncio.gather(*(one(i, q) for i, (_, q) in zip(interactions, asks, strict=True)))
    finally:
        stop.set()
    wall = time.perf_counter() - started
    return Rush(interactions, list(waits), wall, await watch, started)
