"""The library: ``/sources`` and ``/help`` for everyone; ``/add`` and ``/reindex`` for people who can manage the server.

``/add`` and ``/reindex`` are hidden from others by their default permissions and checked again when run
(a server can override default permissions, and the check costs nothing).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discordbot.common import error_text, followup, log_error, respond, think
from bot.discordbot.render import (
    EMBED_COLOUR,
    EMBED_DESCRIPTION_LIMIT,
    MESSAGE_LIMIT,
    shorten,
)
from index.fetch import Fetched, FetchError, fetch_url
from index.load import SUPPORTED_SUFFIXES, ArticleError
from index.store import StoreError

if TYPE_CHECKING:
    from bot.discordbot.client import NewsbotClient
    from index.sync import Added

log = logging.getLogger("newsbot.discord")

HELP = """**newsbot answers questions from the news articles it has read, and cites them.**
• `/ask question:` — ask; the answer quotes the articles with numbered sources [1], [2]…, and opens a thread.
• Mention me with a question (`@newsbot Who will develop the tungsten deposit?`) and I answer in place.
{follow_up}
• 👍 / 👎 under an answer tells the maintainers whether it helped; you can change your vote.
• `/sources` — the articles I know.
• `/add` (URL or file) and `/reindex` — for people with Manage Server.
If the articles don't cover a question, I say so rather than guess."""

# What a follow-up needs depends on the Message Content intent: without it Discord shows the bot only
# messages that mention it (a reply to a mention answer does, with its @ mention on; a reply to a /ask answer does not).
FOLLOW_UP_WITHOUT_INTENT = """• Follow up in an answer's thread: mention me (`@newsbot And who holds the rest?`) or use `/ask` there; I keep the last few questions in mind, so the follow-up is understood.
• Or reply to an answer I gave to a mention, keeping the reply's @ mention on. Replies to `/ask` answers reach me without their text, so follow those up in the thread."""
FOLLOW_UP_WITH_INTENT = """• Follow up in an answer's thread (just write, no mention needed) or reply to any of my answers; I keep the last few questions in mind, so "And who holds the rest?" is understood."""


def help_text(message_content: bool) -> str:
    """``/help``: how to ask and follow up, as this bot's intents allow."""
    return HELP.format(follow_up=FOLLOW_UP_WITH_INTENT if message_content else FOLLOW_UP_WITHOUT_INTENT)


NEEDS_MANAGE = "You need the Manage Server permission to change the library."
FETCH_WORKERS = 2  # URL downloads at once; more /add url: calls wait their turn, never on the answer workers
WRITE_WAIT_S = 15.0  # longest /add and /reindex wait for another writer: they hold one of the answer workers meanwhile


def library_embed(documents: dict[str, dict], chunks: int) -> discord.Embed:
    """The indexed articles (title, publisher, date), newest first, within the description limit."""
    docs = sorted(documents.values(), key=lambda d: (str(d.get("published", "")), str(d.get("title", ""))), reverse=True)
    lines: list[str] = []
    used = 0
    for i, d in enumerate(docs):
        title = shorten(str(d.get("title") or d.get("doc_id")), 150).replace("[", "(").replace("]", ")")
        url = str(d.get("url") or "")
        head = f"[{title}]({url})" if url.startswith(("http://", "https://")) and len(url) < 400 else f"**{title}**"
        meta = " · ".join(str(x) for x in (d.get("source"), d.get("published")) if x)
        line = f"• {head}" + (f" — {meta}" if meta else "")
        more = f"\n…and {len(docs) - i} more (`newsbot index list` shows all)"
        if used + len(line) + 1 + len(more) > EMBED_DESCRIPTION_LIMIT:
            lines.append(more.strip())
            break
        lines.append(line)
        used += len(line) + 1
    embed = discord.Embed(
        title="Articles in the index", description="\n".join(lines) or "No articles yet: `/add` one.", colour=EMBED_COLOUR
    )
    embed.set_footer(text=f"{len(docs)} articles · {chunks} chunks")
    return embed


def added_text(added: Added) -> str:
    """The reply to /add, saying what was indexed: the title read from the corpus file that is indexed."""
    title, doc_id = shorten(added.article.title, 200), added.article.doc_id
    if added.new:
        return f"Added **{title}** ({doc_id}): {added.chunks} chunks indexed. Ask away!"
    return f"**{title}** ({doc_id}) is already in the library as `{added.path.name}`, with the same content: nothing changed."


def can_manage(interaction: Any) -> bool:
    perms = getattr(interaction, "permissions", None)
    return bool(perms is not None and (perms.manage_guild or perms.administrator))


class Library(commands.Cog):
    """What the bot has read, and how to change it."""

    def __init__(self, bot: NewsbotClient) -> None:
        self.bot = bot
        # Downloads have their own threads: a slow site must not hold the workers that answer questions.
        self.fetcher = ThreadPoolExecutor(max_workers=FETCH_WORKERS, thread_name_prefix="newsbot-fetch")

    async def cog_unload(self) -> None:
        self.fetcher.shutdown(wait=False, cancel_futures=True)

    async def fetch(self, url: str) -> Fetched:
        """Download ``url`` for ``/add`` in the fetch threads, within the size and time limits in the settings."""
        settings = self.bot.settings
        job = functools.partial(fetch_url, url, max_bytes=settings.fetch_max_bytes, timeout=settings.fetch_timeout)
        return await asyncio.get_running_loop().run_in_executor(self.fetcher, job)

    @app_commands.command(name="sources", description="List the articles newsbot answers from.")
    @app_commands.guild_only()
    async def sources(self, interaction: discord.Interaction) -> None:
        await self.handle_sources(interaction)

    @app_commands.command(name="help", description="How to ask newsbot questions.")
    async def help(self, interaction: discord.Interaction) -> None:
        await respond(interaction, help_text(self.bot.intents.message_content), ephemeral=True)

    @app_commands.command(name="add", description="Add an article (a URL or an attached .md/.txt/.html/.pdf) and index it.")
    @app_commands.describe(url="An http(s) link to the article", file="An article file: .md, .txt, .html or .pdf")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def add(self, interaction: discord.Interaction, url: str | None = None, file: discord.Attachment | None = None) -> None:
        await self.handle_add(interaction, url, file)

    @app_commands.command(name="reindex", description="Bring the index in line with the corpus folder.")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def reindex(self, interaction: discord.Interaction) -> None:
        await self.handle_reindex(interaction)

    # -- handlers --------------------------------------------------------------------------------
    async def handle_sources(self, interaction: Any) -> None:
        try:
            await think(interaction, ephemeral=True)
            documents = await self.bot.run_blocking(self.bot.service.documents)
            chunks = await self.bot.run_blocking(self.bot.service.store.count)
            await followup(interaction, embed=library_embed(documents, chunks), ephemeral=True)
        except Exception as exc:
            await respond(interaction, error_text(log_error(exc, "/sources")))

    async def handle_add(self, interaction: Any, url: str | None, file: Any | None) -> None:
        """Fetch or read the article, add it to the corpus and index it; answer with its title and chunk count."""
        try:
            if not can_manage(interaction):
                await respond(interaction, NEEDS_MANAGE)
                return
            if (url is None) == (file is None):
                await respond(interaction, "Give either a `url` or a `file`, one of them.")
                return
            limit = self.bot.settings.fetch_max_bytes
            if file is not None:
                suffix = Path(file.filename).suffix.lower()
                if suffix not in SUPPORTED_SUFFIXES:
                    await respond(interaction, f"I can read .md, .txt, .html and .pdf files, not `{suffix or file.filename}`.")
                    return
                if file.size > limit:
                    await respond(interaction, f"That file is {file.size:,} bytes; the limit is {limit:,}.")
                    return
            await think(interaction)
            try:
                if file is not None:
                    name, data = Path(file.filename).name, await file.read()
                else:
                    fetched = await self.fetch(url or "")
                    name, data = fetched.filename, fetched.data
                added = await self.bot.run_blocking(self._add_bytes, name, data)
            except (FetchError, ArticleError, StoreError) as exc:  # StoreError: another writer, an unwritable data dir, ...
                await respond(interaction, f"I couldn't add that: {exc}", ephemeral=False)
                return
            await followup(interaction, added_text(added)[:MESSAGE_LIMIT], suppress_embeds=True)
        except Exception as exc:
            await respond(interaction, error_text(log_error(exc, "/add")))

    def _add_bytes(self, name: str, data: bytes) -> Added:
        with tempfile.TemporaryDirectory(prefix="newsbot-add-") as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            return self.bot.service.add(path, wait=self._write_wait())

    def _write_wait(self) -> float:
        return min(self.bot.settings.write_wait, WRITE_WAIT_S)

    async def handle_reindex(self, interaction: Any) -> None:
        try:
            if not can_manage(interaction):
                await respond(interaction, NEEDS_MANAGE)
                return
            await think(interaction)
            try:
                report = await self.bot.run_blocking(self.bot.service.sync, wait=self._write_wait())
            except (StoreError, ValueError) as exc:  # another writer, an unwritable data dir, a missing or empty corpus folder
                await respond(interaction, f"I couldn't reindex: {exc}", ephemeral=False)
                return
            text = (
                f"Index in line with the corpus: added {report.added}, updated {report.updated}, deleted {report.deleted}, "
                f"unchanged {report.unchanged}; {report.chunks_embedded} chunks embedded."
            )
            if report.skipped:
                text += "\nSkipped: " + "; ".join(report.skipped)
            await followup(interaction, shorten(text, MESSAGE_LIMIT), suppress_embeds=True)
        except Exception as exc:
            await respond(interaction, error_text(log_error(exc, "/reindex")))


async def setup(bot: NewsbotClient) -> None:
    await bot.add_cog(Library(bot))
