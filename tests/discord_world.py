"""The Discord bot in simcord's in-memory Discord, for the scenario tests (``tests/test_discord_*.py``).

simcord replaces two seams of discord.py (``HTTPClient.request`` and the gateway parsers) with an in-memory
Discord, so the real :class:`NewsbotClient`, discord.py's command tree, views, parsers and HTTP routes run
unmodified, and Discord's rules (limits, intents, permissions, acknowledging twice) are enforced. Behind the
bot is the real :class:`Newsbot` over the real two-article corpus and the real model (served by ONNX Runtime).

A test asks for ``world``; ``bot_settings`` (a dict of ``Settings`` fields, ``{}`` unless a test
parametrizes it) configures the bot before it connects. ``INTENTS`` runs a test with the Message Content
intent off (the default) and on.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest
import simcord

from bot.discordbot.client import NewsbotClient
from bot.service import Newsbot
from bot.settings import Settings
from index.embed import Embedder

Q1 = "What share of the tungsten joint venture will Cove Capital control?"
FOLLOW_UP = "And who holds the rest?"
REST = "Tau-Ken Samruk controlling the remaining 30%"  # in the answer to FOLLOW_UP only when Q1 came before

INTENTS = pytest.mark.parametrize(
    "bot_settings", [{"message_content": False}, {"message_content": True}], ids=["no-intent", "message-content"]
)


@dataclass(frozen=True)
class IndexedCorpus:
    """The real corpus indexed once with the real model (served by ONNX Runtime, a few ms a question), and that model."""

    path: Path
    embedder: Embedder


@pytest.fixture(scope="session")
def indexed_corpus(tmp_path_factory: pytest.TempPathFactory, onnx_embedder: Embedder) -> IndexedCorpus:
    """Indexed once per session; each test gets a copy. The real model, not a hashing fake: the answer step is a
    model fitted on the real model's vectors, and what a user sees depends on them."""
    base = tmp_path_factory.mktemp("discord-template")
    shutil.copytree(Path(__file__).resolve().parent.parent / "corpus", base / "corpus")
    settings = Settings(corpus_dir=base / "corpus", data_dir=base / "data", chroma_url=None, _env_file=None)
    Newsbot(settings, embedder=onnx_embedder, notify=lambda msg: None)  # builds the index
    return IndexedCorpus(base, onnx_embedder)


@pytest.fixture
def bot_settings() -> dict[str, Any]:
    return {}


def indexed_service(indexed: IndexedCorpus, tmp_path: Path, **overrides: Any) -> Newsbot:
    """The real service over a private copy of the indexed corpus (tests may add articles); ``overrides`` are settings."""
    shutil.copytree(indexed.path / "corpus", tmp_path / "corpus")
    shutil.copytree(indexed.path / "data", tmp_path / "data")
    settings = Settings(corpus_dir=tmp_path / "corpus", data_dir=tmp_path / "data", chroma_url=None, _env_file=None, **overrides)
    return Newsbot(settings, embedder=indexed.embedder, notify=lambda msg: None)


def make_client(indexed: IndexedCorpus, tmp_path: Path, **overrides: Any) -> NewsbotClient:
    """The real bot and service as ``newsbot serve`` builds them (one ``Settings`` for both), over a private
    copy of the indexed corpus. ``overrides`` are settings a server admin would set; the cooldown is off unless a
    test sets it, since most scenarios ask several questions as one user.
    """
    service = indexed_service(indexed, tmp_path, **{"cooldown_seconds": 0.0, **overrides})
    return NewsbotClient(service, service.settings)


def restarted(client: NewsbotClient, **overrides: Any) -> NewsbotClient:
    """A new bot process on the same data (index, answers, votes), as after ``newsbot serve`` is run again."""
    settings = client.settings.model_copy(update=overrides)
    return NewsbotClient(client.service, settings)


@pytest.fixture
def simcord_bot(indexed_corpus: IndexedCorpus, tmp_path: Path, bot_settings: dict[str, Any]) -> Iterator[NewsbotClient]:
    """What simcord's ``simcord_env`` fixture starts: it logs in, runs ``setup_hook`` (cogs, persistent
    views, warm-up, command sync) and reaches READY, as on Discord."""
    client = make_client(indexed_corpus, tmp_path, **bot_settings)
    yield client
    client.executor.shutdown(wait=False)  # simcord detaches the bot without closing it


@dataclass
class World:
    """One server with a #news channel, two members and a manager (Manage Server), and the bot in it."""

    env: simcord.Env
    service: Newsbot
    guild: simcord.GuildHandle
    news: simcord.ChannelHandle
    alice: simcord.MemberActor
    bob: simcord.MemberActor
    mia: simcord.MemberActor  # may manage the server: /add, /reindex

    @property
    def client(self) -> NewsbotClient:
        return self.env.bot  # type: ignore[return-value]

    @property
    def me(self) -> discord.ClientUser:
        assert self.client.user is not None
        return self.client.user

    def mention(self, text: str) -> str:
        return f"{self.me.mention} {text}"

    def bot_messages(self, channel: simcord.ChannelHandle) -> list[discord.Message]:
        """What the bot posted in ``channel`` (thread-created notices aside), oldest first."""
        return [
            m for m in channel.history() if m.author.id == self.me.id and m.type is not discord.MessageType.thread_created
        ]

    def requests(self, method: str, path_part: str) -> list[simcord.HttpLogEntry]:
        return [r for r in self.env.http_requests if r.method == method and path_part in r.path]


@pytest.fixture
async def world(simcord_env: simcord.Env) -> World:
    env = simcord_env
    guild = env.create_guild("Newsroom")
    news = guild.create_text_channel("news")
    managers = guild.create_role("Editors", permissions=discord.Permissions(manage_guild=True))
    return World(
        env,
        env.bot.service,  # type: ignore[attr-defined]
        guild,
        news,
        guild.add_member(env.create_user("alice")),
        guild.add_member(env.create_user("bob")),
        guild.add_member(env.create_user("mia"), roles=[managers]),
    )


def never_pings(requests: list[simcord.HttpLogEntry]) -> Iterator[str]:
    """The requests that post or edit a message without ``allowed_mentions`` that ping nobody (should be none)."""
    for r in requests:
        body = r.json if isinstance(r.json, dict) else {}
        if isinstance(body.get("data"), dict):  # an interaction callback carries its message in "data"
            body = body["data"]
        if r.method in ("POST", "PATCH") and ("content" in body or "embeds" in body):
            mentions = body.get("allowed_mentions")
            if mentions is None or mentions.get("parse") or mentions.get("users") or mentions.get("roles"):
                yield f"{r.method} {r.path}: {mentions}"
            elif mentions.get("replied_user"):
                yield f"{r.method} {r.path}: pings the replied user"
