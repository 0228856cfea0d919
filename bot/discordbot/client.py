"""The Discord bot: a ``commands.Bot`` subclass whose ``setup_hook`` loads the cogs and the persistent views.

``serve()`` is what ``newsbot serve`` runs: check the token's shape, load the model and index once, connect,
sync the slash commands (to ``NEWSBOT_DEV_GUILD_ID`` at once, or globally) and log one line when ready.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextvars
import functools
import gc
import inspect
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.discordbot.common import error_text, log_error, respond
from bot.discordbot.feedback_store import FeedbackStore
from bot.discordbot.render import NO_MENTIONS, Outgoing, render_answer
from bot.discordbot.views import FeedbackView
from bot.settings import Settings
from bot.types import Answer, Turn

if TYPE_CHECKING:
    from bot.service import Newsbot

log = logging.getLogger("newsbot.discord")
T = TypeVar("T")

EXTENSIONS = ("bot.discordbot.cogs.ask", "bot.discordbot.cogs.library")
HISTORY_TURNS = 3  # earlier exchanges of a thread or reply chain passed to a follow-up
EXIT_START_ERROR = 2  # `newsbot serve` exit code for a StartError

# A bot token is three base64url parts: the bot's user id, a timestamp, an HMAC.
_TOKEN = re.compile(r"^(?P<id>[A-Za-z0-9_-]{16,40})\.[A-Za-z0-9_-]{4,12}\.[A-Za-z0-9_-]{20,}$")


class StartError(Exception):
    """The bot cannot start (missing, malformed or rejected token; an intent not enabled): one line, exit 2."""


class TokenError(StartError, ValueError):
    """A missing or malformed Discord token; the message says what to do."""


def check_token(token: str | None) -> str:
    """The token stripped, or :class:`TokenError` when it is missing or cannot be a bot token (no network)."""
    token = (token or "").strip().strip("\"'")
    if not token:
        raise TokenError("DISCORD_TOKEN is not set: put the bot's token in the environment or .env (see README, Discord)")
    if token.lower().startswith("bot "):
        raise TokenError("DISCORD_TOKEN should be the token alone, without the 'Bot ' prefix")
    match = _TOKEN.match(token)
    first = match.group("id") if match else ""
    try:
        user_id = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)).decode("ascii") if first else ""
    except (ValueError, UnicodeDecodeError):
        user_id = ""
    if not match or not user_id.isdigit():
        raise TokenError(
            "DISCORD_TOKEN is malformed: a bot token looks like three dot-separated parts (copy it again from "
            "the Developer Portal, Bot, Reset Token)"
        )
    return token


def is_thread(channel: object) -> bool:
    return getattr(channel, "type", None) in (
        discord.ChannelType.public_thread,
        discord.ChannelType.private_thread,
        discord.ChannelType.news_thread,
    )


def can_open_threads(channel: object) -> bool:
    """Threads can be opened on messages in text and announcement channels."""
    return getattr(channel, "type", None) in (discord.ChannelType.text, discord.ChannelType.news) and hasattr(
        channel, "create_thread"
    )


def monotonic() -> float:
    """``time.monotonic()``, looked up when called: a test clock that replaces it (simcord's) is seen.

    (A default argument ``clock=time.monotonic`` would bind the function once, at import.)
    """
    return time.monotonic()


class Cooldown:
    """One question per user every ``seconds`` (shared by /ask, mentions, replies and threads)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._last: dict[int, float] = {}

    def retry_after(self, user_id: int) -> float:
        """0 and the user's turn is taken, or the seconds they must still wait."""
        if self.seconds <= 0:
            return 0.0
        now = self.clock()
        last = self._last.get(user_id)
        if last is not None and now - last < self.seconds:
            return self.seconds - (now - last)
        self._last[user_id] = now
        if len(self._last) > 10_000:  # forget users whose cooldown is long over
            self._last = {u: t for u, t in self._last.items() if now - t < self.seconds}
        return 0.0


class PartialRelay:
    """Shows an LLM's text as it streams: called from any thread, edits on the event loop, ~1 edit a second.

    Made on the loop by the handler that answers; each edit runs in a copy of that handler's context,
    whichever thread reported the text (the LLM call runs in a thread of its own, which copies none):
    discord.py keeps the adapter that sends interaction edits in a context variable.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        show: Callable[[str], Any],
        interval: float = 1.0,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.loop = loop
        self.show = show
        self.interval = interval
        self.clock = clock
        self.latest = ""
        self.edits = 0
        self._context = contextvars.copy_context()
        self._last = float("-inf")
        self._future: concurrent.futures.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None  # held, so the edit in flight is not garbage-collected
        self._closed = False

    def __call__(self, text: str) -> None:
        """The accumulated text so far (from any thread); schedules an edit unless one ran within ``interval``."""
        self.latest = text
        now = self.clock()
        if self._closed or now - self._last < self.interval or (self._future is not None and not self._future.done()):
            return
        self._last = now
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._future = done
        self.loop.call_soon_threadsafe(self._start, text, done, context=self._context.copy())

    def _start(self, text: str, done: concurrent.futures.Future[None]) -> None:
        self._task = self.loop.create_task(self._show(text, done))  # on the loop, in the handler's context

    async def _show(self, text: str, done: concurrent.futures.Future[None]) -> None:
        try:
            await self.show(text)
            self.edits += 1
        except Exception as exc:  # a failed preview edit must not fail the answer
            log.warning("could not show the partial answer: %s", exc, exc_info=log.isEnabledFor(logging.DEBUG))
        finally:
            done.set_result(None)

    async def close(self) -> None:
        """No more edits; wait for one in flight so it cannot overwrite the final answer."""
        self._closed = True
        if self._future is not None:
            await asyncio.wrap_future(self._future)


class NewsbotClient(commands.Bot):
    """newsbot in Discord. Answers come from :class:`~bot.service.Newsbot` in a bounded pool of worker threads."""

    def __init__(
        self,
        service: Newsbot,
        settings: Settings | None = None,
        feedback: FeedbackStore | None = None,
        *,
        sync_commands: bool = True,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.service = service
        self.settings = settings or service.settings
        intents = discord.Intents.default()  # guilds, guild messages (with mentions), DMs; nothing privileged
        intents.message_content = self.settings.message_content
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=NO_MENTIONS,
        )
        self.feedback = feedback or FeedbackStore.in_data_dir(self.settings.data_dir)
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=self.settings.answer_workers, thread_name_prefix="newsbot-answer")
        self.cooldown = Cooldown(self.settings.cooldown_seconds, clock)
        self.sync_commands_on_start = sync_commands
        self.synced_to = "not synced"
        self._ready_logged = False
        self.tree.error(self.on_app_command_error)
        try:
            self._accepts_partial = "on_partial" in inspect.signature(service.answer).parameters
        except (TypeError, ValueError):
            self._accepts_partial = False

    # -- start ---------------------------------------------------------------------------
    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        self.add_view(FeedbackView(self.feedback))  # 👍/👎 on every earlier answer keep working after a restart
        await self.run_blocking(self.warm_up)  # lazy caches filled now, not while the first users wait
        # What is loaded by now (the keyword index, its vocabulary, the answer step's tables: about 480,000 objects
        # at 2,002 articles) lives as long as the bot. A full garbage collection walks all of it holding the GIL, about
        # 0.2-0.3 s here, and stalls the event loop with it (it did in a rush of 40 questions). Frozen, it is left out
        # of every collection; what answers allocate is collected as before. An index loaded later (after /add, or
        # another process's build) is frozen when it is loaded.
        gc.freeze()
        if (retriever := getattr(self.service, "retriever", None)) is not None:
            retriever.freeze_after_load = True
        if self.sync_commands_on_start:
            await self.sync_app_commands()

    WARM_UP_QUESTION = "Which agreements were signed?"

    def warm_up(self) -> None:
        """Answer one question before going online, so the first real one does not pay for lazy loading.

        (Lazy loads such as a first parse of a data file hold the GIL for tens of milliseconds; done during
        a rush of questions, that would stall the event loop.)
        """
        started = time.perf_counter()
        try:
            self.service.answer(self.WARM_UP_QUESTION)
            if (answerer := getattr(self.service, "answerer", None)) is not None:
                answerer.load_tables()  # what the warm-up question may not have touched
        except Exception:
            log.warning("warm-up question failed; the bot starts anyway", exc_info=True)
        log.debug("warm-up took %.0f ms", (time.perf_counter() - started) * 1000)

    async def sync_app_commands(self) -> None:
        guild_id = self.settings.dev_guild_id
        try:
            if guild_id:
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
                self.synced_to = f"{len(synced)} commands synced to guild {guild_id}"
            else:
                synced = await self.tree.sync()
                self.synced_to = f"{len(synced)} commands synced globally (may take up to an hour to show)"
        except discord.HTTPException as exc:
            where = f"guild {guild_id} (is the bot in that server?)" if guild_id else "Discord"
            self.synced_to = "commands NOT synced"
            log.error("could not sync slash commands to %s: %s", where, exc)

    async def on_ready(self) -> None:
        if self._ready_logged:
            return  # on_ready fires again after reconnects
        self._ready_logged = True
        user = self.user
        log.info(
            "newsbot ready as %s (id %s) in %d servers; %s; %d chunks indexed",
            user,
            getattr(user, "id", "?"),
            len(self.guilds),
            self.synced_to,
            self.service.store.count(),
        )

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands: the Ask cog's listener answers mentions, replies and thread messages."""

    async def close(self) -> None:
        await super().close()
        self.executor.shutdown(wait=False, cancel_futures=True)

    # -- shared by the cogs ----------------------------------------------------------------
    async def run_blocking(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``func`` in the answer pool, off the event loop, in a copy of the caller's context.

        The copy is what ``asyncio.to_thread`` does: coroutines the worker hands back to the loop (the
        streaming edits of :class:`PartialRelay`) then run with the context of the handler that asked,
        which discord.py needs (its webhook adapter for interaction edits is a context variable).
        """
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        return await loop.run_in_executor(self.executor, functools.partial(context.run, func, *args, **kwargs))

    @property
    def streams(self) -> bool:
        """Whether answers stream (an LLM is configured and the service can report partial text)."""
        return self.settings.llm != "none" and self._accepts_partial

    async def answer(
        self,
        question: str,
        history: Sequence[Turn] = (),
        on_partial: Callable[[str], None] | None = None,
        question_line: bool = False,
    ) -> tuple[Answer, list[Outgoing]]:
        """``Newsbot.answer`` and its rendering into messages, both in a worker thread (the loop only posts)."""
        kwargs: dict[str, Any] = {"history": list(history)}
        if on_partial is not None and self._accepts_partial:
            kwargs["on_partial"] = on_partial

        def work() -> tuple[Answer, list[Outgoing]]:
            answer = self.service.answer(question, **kwargs)
            return answer, render_answer(answer, question_line=question_line)

        return await self.run_blocking(work)

    def gate(self, user_id: int, channel: object, guild: object | None) -> str | None:
        """Why this question may not be asked here and now (guild-only, allow-list, cooldown), or None."""
        if guild is None:
            return "I only answer in servers, not in direct messages."
        allowed = self.settings.allowed_channels
        if allowed:
            ids = {getattr(channel, "id", None), getattr(channel, "parent_id", None)}
            if not ids & set(allowed):
                where = ", ".join(f"<#{c}>" for c in allowed[:10])
                return f"I don't answer in this channel. Ask me in {where}."
        wait = self.cooldown.retry_after(user_id)
        if wait > 0:
            return (
                f"Slow down a little: you can ask again in {wait:.0f} s."
                if wait >= 1
                else "Slow down a little: try again in a second."
            )
        return None

    def error_message(self, exc: BaseException, where: str) -> str:
        """Log ``exc`` with its traceback under a fresh error id; the short message for the user."""
        return error_text(log_error(exc, where))

    async def on_app_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """Checks that fail before a handler runs, and anything a handler let through."""
        if isinstance(error, app_commands.NoPrivateMessage):
            text = "I only answer in servers, not in direct messages."
        elif isinstance(error, app_commands.MissingPermissions):
            text = "You need the Manage Server permission for that."
        elif isinstance(error, app_commands.CheckFailure):
            text = "You can't use that here."
        else:
            original = getattr(error, "original", error)
            text = self.error_message(original, f"/{getattr(interaction.command, 'name', '?')}")
        await respond(interaction, text, ephemeral=True)


def serve(settings: Settings, token: str, service_factory: Callable[[], Newsbot]) -> int:
    """Run the bot until it is stopped; :class:`StartError` when Discord rejects the token."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("discord").setLevel(logging.WARNING)
    service = service_factory()  # the model and the index, loaded once before connecting

    async def main() -> None:
        async with NewsbotClient(service, settings) as client:
            await client.start(token)

    try:
        asyncio.run(main())
    except discord.LoginFailure:
        raise StartError(
            "Discord rejected DISCORD_TOKEN: reset the token in the Developer Portal (Bot, Reset Token) and set it again"
        ) from None
    except discord.PrivilegedIntentsRequired:
        raise StartError(
            "NEWSBOT_MESSAGE_CONTENT=true needs the Message Content intent: enable it in the Developer Portal "
            "(Bot, Privileged Gateway Intents) or unset the setting"
        ) from None
    except KeyboardInterrupt:
        log.info("stopped")
    return 0
