"""The library in Discord: ``/sources``, ``/help``, ``/add`` (file and URL) and ``/reindex``, from the user's side.

Through simcord, as the ask tests. The downloader behind ``/add url:`` has its own tests (``tests/test_fetch.py``);
here a real HTTP server on 127.0.0.1 stands in for a news site.
"""

from __future__ import annotations

import functools
import sys

import discord
import pytest
import simcord

from bot.discordbot.cogs.library import FOLLOW_UP_WITH_INTENT, FOLLOW_UP_WITHOUT_INTENT, NEEDS_MANAGE, library_embed
from bot.discordbot.render import EMBED_DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT, embed_size
from index.fetch import fetch_url
from tests.discord_world import INTENTS, World, never_pings
from tests.test_fetch import Server, allowing, page

ARTICLE = b"""---
title: "Uzbekistan opens a tungsten tender"
source: "Example News"
published: 2025-11-20
url: "https://example.com/uzbek-tungsten"
---
Uzbekistan opened a tender for three tungsten deposits on Thursday, the mining ministry said.

The winner will hold a 49% stake in each project, with the state keeping the rest.
"""
PAGE = b"""<html><head><title>Mongolia signs copper smelter deal</title></head><body>
<nav>Home | World | Markets</nav>
<article><h1>Mongolia signs copper smelter deal</h1>
<p>Mongolia signed an agreement on Friday with a Japanese trading house to build a copper smelter near Oyu Tolgoi.</p>
<p>The smelter will process 400,000 tonnes of concentrate a year from 2029, the ministry of mining said.</p>
</article></body></html>"""
STAKE_Q = "What stake will the tender winner hold?"


def ask_text(result: simcord.InteractionResult) -> str:
    assert result.response is not None, result
    return result.response.content


# -- /sources and /help ---------------------------------------------------------------------------
async def test_sources_lists_the_articles_to_the_asker_only(world: World):
    result = await world.alice.slash(world.news, "sources")
    assert result.ephemeral
    (listing,) = result.response.embeds
    assert listing.title == "Articles in the index"
    assert "**Kazakhstan President Tokayev signs minerals deal in Washington** — Reuters · 2025-11-06" in listing.description
    assert listing.footer.text == f"2 articles · {world.service.store.count()} chunks"
    assert world.news.history(viewer=world.bob) == []  # only alice saw it


@INTENTS
async def test_help_says_how_to_ask_and_what_a_follow_up_needs(world: World, bot_settings):
    result = await world.alice.slash(world.news, "help")
    assert result.ephemeral
    text = result.response.content
    assert "`/ask question:`" in text and "`/sources`" in text and "Manage Server" in text
    if bot_settings["message_content"]:
        assert FOLLOW_UP_WITH_INTENT in text and "without their text" not in text
    else:  # the intent is off: say plainly that a reply to a /ask answer is not read, and what to do
        assert FOLLOW_UP_WITHOUT_INTENT in text and "Replies to `/ask` answers reach me without their text" in text
    assert not list(never_pings(world.env.http_requests))


# -- /add ---------------------------------------------------------------------------------------------
async def test_add_a_file_then_ask_about_it_and_see_it_listed(world: World):
    result = await world.mia.slash(world.news, "add", file=("uz-tungsten.md", ARTICLE))

    assert not result.ephemeral  # the channel learns the library grew
    assert result.response.content.startswith("Added **Uzbekistan opens a tungsten tender** (uz-tungsten):")
    assert "chunks indexed. Ask away!" in result.response.content
    answer = await world.alice.slash(world.news, "ask", question=STAKE_Q)
    assert "49%" in ask_text(answer)
    listing = (await world.alice.slash(world.news, "sources")).response.embeds[0]
    assert "[Uzbekistan opens a tungsten tender](https://example.com/uzbek-tungsten) — Example News · 2025-11-20" in listing.description
    assert listing.footer.text.startswith("3 articles")
    assert (world.service.settings.corpus_dir / "uz-tungsten.md").read_bytes() == ARTICLE
    assert not list(never_pings(world.env.http_requests))


async def test_add_a_url_then_ask_about_it(world: World, monkeypatch):
    site = Server({"/2025/11/mongolia-copper-smelter": page(PAGE)}, "127.0.0.1")
    try:
        # The real downloader (address checks, one deadline, size and type limits), told that news.example.com
        # is this local server and that its address may be fetched from. Patched in the module the bot loaded:
        # discord.py's load_extension imports a cog afresh (into sys.modules, not onto its package).
        cog_module = sys.modules[type(world.client.get_cog("Library")).__module__]
        local = functools.partial(
            fetch_url, is_allowed=allowing("127.0.0.1"), resolver=lambda host, port, timeout: ["127.0.0.1"]
        )
        monkeypatch.setattr(cog_module, "fetch_url", local)
        url = f"http://news.example.com:{site.port}/2025/11/mongolia-copper-smelter"
        result = await world.mia.slash(world.news, "add", url=url)
    finally:
        site.shutdown()
        site.server_close()

    assert site.log == [("/2025/11/mongolia-copper-smelter", f"news.example.com:{site.port}")]
    assert result.response.content.startswith("Added **Mongolia signs copper smelter deal** (mongolia-copper-smelter):")
    answer = await world.alice.slash(world.news, "ask", question="How much concentrate will the Mongolian smelter process?")
    assert "400,000 tonnes" in ask_text(answer)


async def test_add_and_reindex_are_refused_to_members_without_manage_server_twice_over(world: World):
    # 1. Discord hides both commands from them (default permissions): a real user could not run them.
    assert set(world.alice.available_commands(world.news)) == {"ask", "sources", "help"}
    assert {"add", "reindex"} <= set(world.mia.available_commands(world.news))
    with pytest.raises(simcord.SetupError, match="default-member-permissions"):
        await world.alice.slash(world.news, "add", file=("uz-tungsten.md", ARTICLE))

    # 2. A server admin may let everyone see them (Integrations settings); the bot still checks when they run.
    for command in await world.client.tree.fetch_commands():
        if command.name in ("add", "reindex"):
            world.guild.set_command_permissions(command, {world.guild.default_role: True})
    added = await world.alice.slash(world.news, "add", file=("uz-tungsten.md", ARTICLE))
    reindexed = await world.alice.slash(world.news, "reindex")

    for result in (added, reindexed):
        assert result.ephemeral and result.response.content == NEEDS_MANAGE
    assert not (world.service.settings.corpus_dir / "uz-tungsten.md").exists()
    assert "49%" not in ask_text(await world.alice.slash(world.news, "ask", question=STAKE_Q))


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"file": ("photo.png", b"\x89PNG\r\n")}, "I can read .md, .txt, .html and .pdf files, not `.png`."),
        ({}, "Give either a `url` or a `file`, one of them."),
        ({"url": "ftp://example.com/a.txt"}, "I couldn't add that: only http:// and https:// URLs can be added"),
        ({"url": "http://127.0.0.1:8000/admin"}, "I couldn't add that: URLs on private or local addresses cannot be added"),
        ({"file": ("empty.md", b"")}, "I couldn't add that:"),
    ],
    ids=["png", "nothing", "ftp", "local-address", "empty-file"],
)
async def test_add_refuses_what_it_cannot_read_with_a_reason(world: World, options, says):
    chunks = world.service.store.count()
    result = await world.mia.slash(world.news, "add", **options)
    assert result.response.content.startswith(says), result.response.content
    assert world.service.store.count() == chunks and "error id" not in result.response.content


# -- /reindex -----------------------------------------------------------------------------------------
async def test_reindex_brings_in_articles_dropped_into_the_corpus_folder(world: World):
    result = await world.mia.slash(world.news, "reindex")
    assert result.response.content == (
        "Index in line with the corpus: added 0, updated 0, deleted 0, unchanged 2; 0 chunks embedded."
    )
    (world.service.settings.corpus_dir / "uz-tungsten.md").write_bytes(ARTICLE)
    result = await world.mia.slash(world.news, "reindex")
    assert "added 1, updated 0, deleted 0, unchanged 2" in result.response.content
    assert "49%" in ask_text(await world.alice.slash(world.news, "ask", question=STAKE_Q))


async def test_an_error_in_reindex_is_public_with_an_error_id(world: World, monkeypatch):
    def broken(**options):
        raise OSError("disk full")

    monkeypatch.setattr(world.service, "sync", broken)
    result = await world.mia.slash(world.news, "reindex")
    assert "error id `" in result.response.content and not result.ephemeral
    assert all(not int((r.json or {}).get("flags") or 0) & 64 for r in world.requests("POST", "/webhooks/"))


# -- pieces without Discord ------------------------------------------------------------------------------
def test_library_listing_fits_the_description_limit():
    docs = {
        f"d{i}": {"title": f"An article title {i} " * 5, "source": "Publisher", "published": "2025-11-07"} for i in range(400)
    }
    embed = library_embed(docs, 5000)
    assert len(embed.description) <= EMBED_DESCRIPTION_LIMIT and embed_size(embed) <= EMBED_TOTAL_LIMIT
    assert "more (`newsbot index list` shows all)" in embed.description and embed.footer.text == "400 articles · 5000 chunks"
    assert isinstance(embed, discord.Embed)
