"""/sources, /add, /reindex through their handlers, and the URL fetcher behind /add (no network: httpx.MockTransport)."""

from __future__ import annotations

import discord
import httpx
import pytest

from bot.discordbot.cogs.library import library_embed
from bot.discordbot.feedback_store import FeedbackStore
from bot.discordbot.render import EMBED_DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT, embed_size
from index.fetch import FetchError, fetch_url
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


# -- index/fetch.py ------------------------------------------------------------------------------
def transport(handler):
    return httpx.MockTransport(handler)


def test_fetch_html_names_the_file_from_the_url():
    page = b"<html><head><title>T</title></head><body><p>Text.</p></body></html>"
    got = fetch_url(
        "https://news.example.com/2025/11/uzbek-tungsten-tender?x=1",
        transport=transport(lambda r: httpx.Response(200, content=page, headers={"content-type": "text/html; charset=utf-8"})),
    )
    assert got.filename == "uzbek-tungsten-tender.html" and got.data == page and got.content_type == "text/html"


@pytest.mark.parametrize(
    ("url", "handler", "reason"),
    [
        ("file:///etc/passwd", None, "only http:// and https://"),
        ("javascript:alert(1)", None, "only http:// and https://"),
        ("http://localhost:8000/a", None, "localhost"),
        ("http://127.0.0.1/a", None, "private or local"),
        ("http://10.0.0.5/a", None, "private or local"),
        (
            "https://example.com/a",
            lambda r: httpx.Response(200, content=b"x", headers={"content-type": "image/png"}),
            "serves image/png",
        ),
        ("https://example.com/a", lambda r: httpx.Response(404), "404"),
        (
            "https://example.com/big",
            lambda r: httpx.Response(200, headers={"content-type": "text/plain", "content-length": "99999999"}, content=b"x"),
            "too big",
        ),
        (
            "https://example.com/big",
            lambda r: httpx.Response(200, headers={"content-type": "text/plain"}, content=b"x" * 5000),
            "too big",
        ),
        ("https://example.com/slow", "timeout", "too slow"),
        (
            "https://example.com/redirect",
            lambda r: httpx.Response(302, headers={"location": "http://192.168.1.1/admin"}),
            "private or local",
        ),
    ],
)
def test_fetch_refuses_with_a_reason(url, handler, reason):
    def slow(request):
        raise httpx.ReadTimeout("timed out", request=request)

    chosen = slow if handler == "timeout" else handler
    with pytest.raises(FetchError, match=reason):
        fetch_url(url, max_bytes=2000, timeout=0.5, transport=transport(chosen) if chosen else None)


def test_fetch_follows_a_public_redirect_and_stops_a_loop():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old":
            return httpx.Response(301, headers={"location": "https://example.com/new-article.txt"})
        if request.url.path == "/loop":
            return httpx.Response(302, headers={"location": "https://example.com/loop"})
        return httpx.Response(200, content=b"Text of the article.", headers={"content-type": "text/plain"})

    got = fetch_url("https://example.com/old", transport=transport(handler))
    assert got.url == "https://example.com/new-article.txt" and got.filename == "new-article.txt"
    with pytest.raises(FetchError, match="too many redirects"):
        fetch_url("https://example.com/loop", transport=transport(handler))
