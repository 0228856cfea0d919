"""/sources, /add, /reindex through their handlers (the URL fetcher behind /add: tests/test_fetch.py)."""

from __future__ import annotations

import discord
import pytest

from bot.discordbot.cogs.library import library_embed
from bot.discordbot.feedback_store import FeedbackStore
from bot.discordbot.render import EMBED_DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT, embed_size
from tests.discord_fakes import ClientForTests, FakeAttachment, FakeChannel, FakeGuild, FakeInteraction, Log, is_quiet

MANAGER = discord.Permissions(manage_guild=True)
ARTICLE = b"""---
title: "Uzbekistan opens a tungsten tender"
source: "Example News"
published: 2025-11-20
url: "https://example.com/uzbek-tungsten"
---
Uzbekistan opened a tender for three tungsten deposits on Thursday, the mining ministry said.

The winner will hold a 49% stake in each project, with the state keeping the rest.
"""


@pytest.fixture
async def library(fake_bot, settings, tmp_path):
    client = ClientForTests(fake_bot, settings, FeedbackStore(tmp_path / "f.sqlite3"), sync_commands=False)
    await client.setup_hook()
    yield client.get_cog("Library")
    client.executor.shutdown(wait=True)


@pytest.fixture
def log() -> Log:
    return Log()


@pytest.fixture
def channel(log) -> FakeChannel:
    return FakeChannel(log, FakeGuild())


async def test_add_and_reindex_refuse_without_manage_server(library, channel, log, fake_bot):
    before = fake_bot.store.count()
    await library.handle_add(FakeInteraction(log, channel), None, FakeAttachment("uz.md", ARTICLE))
    await library.handle_reindex(FakeInteraction(log, channel, permissions=discord.Permissions(send_messages=True)))
    refusals = [d for e, d in log if e == "response.send_message"]
    assert len(refusals) == 2 and all("Manage Server" in d["content"] and d["ephemeral"] for d in refusals)
    assert "defer" not in log.events() and fake_bot.store.count() == before


def test_add_and_reindex_are_hidden_by_default_permissions(fake_bot, settings, tmp_path):
    import asyncio

    async def commands() -> dict:
        client = ClientForTests(fake_bot, settings, FeedbackStore(tmp_path / "f.sqlite3"), sync_commands=False)
        await client.setup_hook()
        client.executor.shutdown()
        return {c.name: c for c in client.tree.get_commands()}

    cmds = asyncio.run(commands())
    assert set(cmds) == {"ask", "sources", "help", "add", "reindex"}
    assert cmds["add"].default_permissions.manage_guild and cmds["reindex"].default_permissions.manage_guild
    assert cmds["ask"].default_permissions is None
    assert all(cmds[n].guild_only for n in ("ask", "sources", "add", "reindex"))


async def test_add_an_attached_article_then_it_is_listed(library, channel, log, fake_bot):
    await library.handle_add(FakeInteraction(log, channel, permissions=MANAGER), None, FakeAttachment("uz-tungsten.md", ARTICLE))
    assert log.events()[0] == "defer"
    done = [d for e, d in log if e == "followup.send"][-1]
    assert done["content"].startswith("Added **Uzbekistan opens a tungsten tender** (uz-tungsten):")
    assert "chunks indexed" in done["content"] and is_quiet(done["allowed_mentions"])
    assert "49%" in fake_bot.answer("What stake will the tender winner hold?").answer
    await library.handle_sources(FakeInteraction(log, channel))
    listing = [d for e, d in log if e == "followup.send"][-1]["embed"]
    assert (
        "[Uzbekistan opens a tungsten tender](https://example.com/uzbek-tungsten) — Example News · 2025-11-20"
        in listing.description
    )
    assert listing.footer.text == f"3 articles · {fake_bot.store.count()} chunks"


async def test_add_refuses_bad_files_and_urls_with_a_reason(library, channel, log):
    manager = dict(permissions=MANAGER)
    await library.handle_add(FakeInteraction(log, channel, **manager), None, FakeAttachment("photo.png", b"\x89PNG"))
    await library.handle_add(FakeInteraction(log, channel, **manager), None, None)
    await library.handle_add(FakeInteraction(log, channel, **manager), "ftp://example.com/a.txt", None)
    await library.handle_add(FakeInteraction(log, channel, **manager), None, FakeAttachment("empty.md", b""))
    texts = [d["content"] for d in log.sends()]
    assert "not `.png`" in texts[0] and "either a `url` or a `file`" in texts[1]
    assert "only http:// and https://" in texts[2] and texts[3].startswith("I couldn't add that:")


async def test_reindex_reports(library, channel, log):
    await library.handle_reindex(FakeInteraction(log, channel, permissions=MANAGER))
    assert log.events()[0] == "defer"
    assert "unchanged 2; 0 chunks embedded" in log.sends()[-1]["content"]


def test_library_listing_fits_the_description_limit():
    docs = {
        f"d{i}": {"title": f"An article title {i} " * 5, "source": "Publisher", "published": "2025-11-07"} for i in range(400)
    }
    embed = library_embed(docs, 5000)
    assert len(embed.description) <= EMBED_DESCRIPTION_LIMIT and embed_size(embed) <= EMBED_TOTAL_LIMIT
    assert "more (`newsbot index list` shows all)" in embed.description and embed.footer.text == "400 articles · 5000 chunks"

