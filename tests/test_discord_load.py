"""Many questions at once from two servers: every one answered, and the event loop stays responsive.

This is the one Discord test on hand-written fakes, because simcord runs one actor at a time (each action
settles before the next), so it cannot put 40 questions in flight together. The fakes stand in only for
the interaction objects /ask touches; the bot (its real ``/ask`` handler, worker pool, thread opening and
answer store) and the answering pipeline (fake embedder) are real.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from types import SimpleNamespace
from typing import Any

import discord

from bot.discordbot.render import REFUSAL_HINT
from tests.discord_world import FOLLOW_UP, Q1, make_client

_ids = itertools.count(10_000)


class Channel:
    """A text channel where threads can be opened on a message (a thread shares its id)."""

    type = discord.ChannelType.text

    def __init__(self, guild: Any) -> None:
        self.id, self.guild, self.threads = next(_ids), guild, []

    async def create_thread(self, *, name: str, message: Any, **fields: Any) -> Any:
        async def send(*args: Any, **kwargs: Any) -> Any:
            return SimpleNamespace(id=next(_ids))

        thread = SimpleNamespace(id=message.id, name=name, send=send)
        self.threads.append(thread)
        return thread


class Interaction:
    """What ``/ask`` uses of a ``discord.Interaction``: its place, ``response.defer`` and ``followup.send``."""

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


async def lag(stop: asyncio.Event, interval: float = 0.005) -> float:
    """Sleep ``interval`` until ``stop``; the worst lateness seen (the event loop's lag), in seconds."""
    worst = 0.0
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(interval)
        worst = max(worst, time.perf_counter() - start - interval)
    return worst


async def test_forty_concurrent_questions_from_two_servers_keep_the_event_loop_responsive(indexed_corpus, tmp_path):
    client = make_client(indexed_corpus, tmp_path)
    client.sync_commands_on_start = False  # not logged in: no Discord to sync with
    await client.setup_hook()  # cogs, persistent view, warm-up
    ask = client.get_cog("Ask")
    channels = [Channel(SimpleNamespace(id=next(_ids))) for _ in range(2)]  # two servers
    questions = [Q1, "How much antimony did Tajikistan export in 2024?", "Who will develop the tungsten deposit?", FOLLOW_UP]
    interactions = [Interaction(channels[n % 2]) for n in range(40)]

    stop = asyncio.Event()
    watch = asyncio.create_task(lag(stop))
    start = time.perf_counter()
    await asyncio.gather(*(ask.handle_ask(i, questions[n % 4]) for n, i in enumerate(interactions)))
    elapsed = time.perf_counter() - start
    stop.set()
    worst = await watch
    client.executor.shutdown(wait=True)

    slowest_ack = max(i.deferred_at - start for i in interactions)
    print(f"\n40 concurrent questions answered in {elapsed * 1000:.0f} ms; slowest acknowledgement "
          f"{slowest_ack * 1000:.0f} ms; worst event-loop lag {worst * 1000:.1f} ms")
    assert all(len(i.sent) == 1 and "error id" not in i.sent[0] for i in interactions)
    assert all("70%" in i.sent[0] for n, i in enumerate(interactions) if n % 4 == 0)
    answered = [i for i in interactions if REFUSAL_HINT not in i.sent[0]]
    assert len(answered) >= 20 and sum(len(c.threads) for c in channels) == len(answered)  # refusals open none
    # Answers are worked out in the worker pool; answered on the loop, the lag would be their sum (~0.5 s).
    assert worst < 0.25
