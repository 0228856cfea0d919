"""Asking: ``/ask``, mentioning the bot, replying to one of its answers, or writing in a thread it opened.

Every path: check (guild, channel allow-list, cooldown, length) -> acknowledge at once (``defer`` / typing)
-> ``Newsbot.answer`` in a worker thread with the conversation's last turns -> post the answer (split to fit,
sources embed, 👍/👎) -> remember it, so follow-ups and votes find it, after a restart too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discordbot.client import HISTORY_TURNS, PartialRelay, can_open_threads, is_thread
from bot.discordbot.common import error_text, followup, log_error, respond, think, thinking_done
from bot.discordbot.feedback_store import StoredAnswer
from bot.discordbot.render import NO_MENTIONS, Outgoing, partial_text, thread_name
from bot.discordbot.views import FeedbackView
from bot.service import QuestionError, check_question
from bot.types import Answer, Turn

if TYPE_CHECKING:
    from bot.discordbot.client import NewsbotClient

log = logging.getLogger("newsbot.discord")

# Posted in each thread the bot opens when it has no Message Content intent (plain messages reach it empty).
THREAD_HINT = "Follow-ups go here: mention me with your question (`@newsbot your question`), or use `/ask` in this thread."


# -- where an answer goes --------------------------------------------------------------------
class _Poster:
    """Posts an answer's messages in order: the first may replace a preview, the last carries the buttons."""

    async def post(self, messages: list[Outgoing], view: discord.ui.View) -> list[Any]:
        posted = []
        for i, m in enumerate(messages):
            last = i == len(messages) - 1
            if i == 0 and self._has_preview():
                edit: dict[str, Any] = {"view": view} if last else {}
                msg = await self._replace_preview(content=m.content, embeds=[m.embed] if m.embed else [], **edit)
            else:
                extra: dict[str, Any] = {"embed": m.embed} if m.embed is not None else {}
                if last:
                    extra["view"] = view
                msg = await self._send(i, m.content, suppress_embeds=m.embed is None, **extra)
            posted.append(msg)
        return posted

    def _has_preview(self) -> bool:
        raise NotImplementedError

    async def _replace_preview(self, **fields: Any) -> Any:
        raise NotImplementedError

    async def _send(self, index: int, content: str, **fields: Any) -> Any:
        raise NotImplementedError


class InteractionPoster(_Poster):
    """Posts an answer to a deferred interaction: the first message replaces the 'thinking…' state."""

    def __init__(self, interaction: Any) -> None:
        self.interaction = interaction
        self.previewed = False

    async def preview(self, text: str) -> None:
        await self.interaction.edit_original_response(content=partial_text(text), allowed_mentions=NO_MENTIONS)
        self.previewed = True
        thinking_done(self.interaction)

    def _has_preview(self) -> bool:
        return self.previewed

    async def _replace_preview(self, **fields: Any) -> Any:
        return await self.interaction.edit_original_response(allowed_mentions=NO_MENTIONS, **fields)

    async def _send(self, index: int, content: str, **fields: Any) -> Any:
        return await followup(self.interaction, content, **fields)


class MessagePoster(_Poster):
    """Posts an answer as a reply to the message that asked (no ping), the rest of a long one after it."""

    def __init__(self, message: Any) -> None:
        self.message = message
        self.placeholder: Any = None

    async def preview(self, text: str) -> None:
        if self.placeholder is None:
            self.placeholder = await self.message.reply(
                partial_text(text), allowed_mentions=NO_MENTIONS, mention_author=False, suppress_embeds=True
            )
        else:
            await self.placeholder.edit(content=partial_text(text), allowed_mentions=NO_MENTIONS)

    def _has_preview(self) -> bool:
        return self.placeholder is not None

    async def _replace_preview(self, **fields: Any) -> Any:
        await self.placeholder.edit(allowed_mentions=NO_MENTIONS, **fields)
        return self.placeholder

    async def _send(self, index: int, content: str, **fields: Any) -> Any:
        if index == 0:
            return await self.message.reply(content, allowed_mentions=NO_MENTIONS, mention_author=False, **fields)
        return await self.message.channel.send(content, allowed_mentions=NO_MENTIONS, **fields)


def strip_mentions(content: str, user_id: int) -> str:
    """The message text without mentions of the bot."""
    return " ".join(re.sub(rf"<@!?{user_id}>", " ", content or "").split())


class Ask(commands.Cog):
    """Questions from slash commands, mentions, replies and threads."""

    def __init__(self, bot: NewsbotClient) -> None:
        self.bot = bot

    # -- entry points ----------------------------------------------------------------------
    @app_commands.command(name="ask", description="Ask a question about the news articles; the answer cites its sources.")
    @app_commands.describe(question="Your question, e.g. What share of the tungsten joint venture will Cove Capital control?")
    @app_commands.guild_only()
    async def ask(self, interaction: discord.Interaction, question: str) -> None:
        await self.handle_ask(interaction, question)

    @commands.Cog.listener("on_message")
    async def on_message(self, message: discord.Message) -> None:
        await self.handle_message(message)

    def _admit(self, user_id: int, channel: Any, guild: Any, question: str) -> tuple[str, str | None]:
        """The question cleaned, and why it is refused (guild, allow-list, cooldown, length), or None."""
        refusal = self.bot.gate(user_id, channel, guild)
        if refusal is None:
            try:
                question = check_question(question, self.bot.settings.max_question_chars)
            except QuestionError as exc:
                refusal = str(exc)
        return question, refusal

    # -- /ask -------------------------------------------------------------------------------
    async def handle_ask(self, interaction: Any, question: str) -> None:
        """``/ask``: checks, ``defer`` at once, answer in a worker, post, open a thread for follow-ups."""
        try:
            question, refusal = self._admit(interaction.user.id, interaction.channel, interaction.guild, question)
            if refusal is not None:
                await respond(interaction, refusal, ephemeral=True)
                return
            await think(interaction)  # within Discord's 3 s, before anything slow

            channel = interaction.channel
            conversation = channel.id if is_thread(channel) else None
            poster = InteractionPoster(interaction)
            parent, answer, messages = await self._answer(question, conversation, None, poster, question_line=True)
            posted = await poster.post(messages, FeedbackView(self.bot.feedback))
            if conversation is None and self.bot.settings.threads and not answer.refused and can_open_threads(channel):
                conversation = await self._open_thread(channel, posted[0], question)
            await self._remember(answer, posted, interaction.guild_id, interaction.channel_id, conversation, parent)
        except Exception as exc:
            # Only-you where Discord allows it; in place of a public "thinking…" it is public (see respond).
            await respond(interaction, error_text(log_error(exc, f"/ask {question[:100]!r}")))

    # -- mentions, replies, threads ------------------------------------------------------------
    async def handle_message(self, message: Any) -> None:
        """Answer a message that mentions the bot, replies to one of its answers, or is in a thread it opened
        (direct messages are told the bot answers in servers only)."""
        me = self.bot.user
        if me is None or getattr(message.author, "bot", False):
            return
        try:
            mentioned = any(u.id == me.id for u in message.mentions)
            channel = message.channel
            in_own_thread = is_thread(channel) and getattr(channel, "owner_id", None) == me.id
            replied: StoredAnswer | None = None
            replied_to_bot = to_command_answer = False
            ref = message.reference
            if ref is not None and ref.message_id is not None:
                resolved = getattr(ref, "resolved", None)
                replied_to_bot = getattr(getattr(resolved, "author", None), "id", None) == me.id
                to_command_answer = getattr(resolved, "interaction_metadata", None) is not None
                replied = await self.bot.run_blocking(self.bot.feedback.answer_for_message, ref.message_id)
                replied_to_bot = replied_to_bot or replied is not None
            direct = message.guild is None  # a direct message is for the bot, mentioned or not
            if not (mentioned or replied_to_bot or in_own_thread or direct):
                return
            question = strip_mentions(message.content, me.id)
            if not question:
                hint = self._no_text_hint(mentioned, replied_to_bot, to_command_answer, replied)
                if hint is not None:
                    await self._reply(message, hint)
                return
            question, refusal = self._admit(message.author.id, channel, message.guild, question)
            if refusal is not None:
                await self._reply(message, refusal)
                return

            conversation = channel.id if is_thread(channel) else None
            poster = MessagePoster(message)
            async with self._typing(channel):
                parent, answer, messages = await self._answer(question, conversation, replied, poster)
            posted = await poster.post(messages, FeedbackView(self.bot.feedback))
            guild_id = getattr(message.guild, "id", None)
            await self._remember(answer, posted, guild_id, channel.id, conversation, parent)
        except Exception as exc:
            await self._reply(message, error_text(log_error(exc, f"message {getattr(message, 'id', '?')}")))

    def _no_text_hint(
        self, mentioned: bool, replied_to_bot: bool, to_command_answer: bool, replied: StoredAnswer | None
    ) -> str | None:
        """What to say to a message for the bot that arrives without text, or None to let it be.

        Without the Message Content intent Discord sends a bot the text of a message only if it mentions the
        bot; a reply to a normal message counts (while its @ mention is on), a reply to a slash command's
        answer does not. Such a reply is answered with how to ask instead, never met with silence. Plain
        messages in the bot's threads arrive empty too and are left alone: they may be people talking.
        """
        if replied_to_bot and not self.bot.intents.message_content:
            if to_command_answer:
                thread = replied.conversation_id if replied is not None else None
                where = f"in its thread <#{thread}>" if thread else "here"
                return (
                    "Discord doesn't show me the text of that reply (I can read only messages that mention me, and a "
                    f"reply to a `/ask` answer doesn't count). Ask your follow-up {where}: mention me with it "
                    "(`@newsbot your question`), or use `/ask`."
                )
            if not mentioned:  # a reply with its @ mention turned off
                return "Discord doesn't show me the text of a reply that doesn't mention me: turn the reply's @ mention on, or mention me in it."
        if mentioned:
            return "Ask me a question after the mention, e.g. `@newsbot Who will develop the tungsten deposit?`"
        return None

    # -- the steps ------------------------------------------------------------------------------
    async def _answer(
        self, question: str, conversation: int | None, parent: StoredAnswer | None, poster: Any, question_line: bool = False
    ) -> tuple[StoredAnswer | None, Answer, list[Outgoing]]:
        """The answer and its messages, with the conversation's last turns as history; streams when an LLM answers.

        ``parent`` is the answer this one follows up (a reply); else the latest answer in ``conversation`` (a thread).
        """
        store = self.bot.feedback

        def earlier() -> tuple[StoredAnswer | None, list[Turn]]:
            before = parent or (store.latest_in_conversation(conversation) if conversation is not None else None)
            return before, (store.history(before.id, HISTORY_TURNS) if before is not None else [])

        parent, history = await self.bot.run_blocking(earlier)
        relay = PartialRelay(asyncio.get_running_loop(), poster.preview) if self.bot.streams else None
        try:
            answer, messages = await self.bot.answer(question, history, on_partial=relay, question_line=question_line)
        finally:
            if relay is not None:
                await relay.close()
        return parent, answer, messages

    async def _open_thread(self, channel: Any, message: Any, question: str) -> int | None:
        """A thread on the answer for follow-ups; without the Message Content intent, it starts with how to ask there."""
        try:
            thread = await channel.create_thread(name=thread_name(question), message=message, auto_archive_duration=1440)
        except discord.HTTPException as exc:  # no Create Public Threads permission, a thread already there, ...
            log.warning("could not open a thread in channel %s: %s", getattr(channel, "id", "?"), exc)
            return None
        if not self.bot.intents.message_content:
            try:
                await thread.send(THREAD_HINT, allowed_mentions=NO_MENTIONS, suppress_embeds=True)
            except discord.HTTPException as exc:  # the answer and its thread stand without it
                log.warning("could not post the follow-up hint in thread %s: %s", thread.id, exc)
        return thread.id

    async def _remember(
        self,
        answer: Answer,
        posted: list[Any],
        guild_id: int | None,
        channel_id: int | None,
        conversation: int | None,
        parent: StoredAnswer | None,
    ) -> None:
        ids = [m.id for m in posted if m is not None]
        await self.bot.run_blocking(
            self.bot.feedback.record_answer, answer, ids, guild_id, channel_id, conversation, parent.id if parent else None
        )

    async def _reply(self, message: Any, text: str) -> None:
        try:
            await message.reply(text, allowed_mentions=NO_MENTIONS, mention_author=False, suppress_embeds=True)
        except Exception:
            log.warning("could not reply to message %s", getattr(message, "id", "?"), exc_info=True)

    @staticmethod
    @contextlib.asynccontextmanager
    async def _typing(channel: Any):
        """'newsbot is typing…' while the answer is worked out; a failure to show it is no failure to answer."""
        try:
            typing = channel.typing()
            await typing.__aenter__()
        except Exception:
            typing = None
        try:
            yield
        finally:
            if typing is not None:
                with contextlib.suppress(Exception):
                    await typing.__aexit__(None, None, None)


async def setup(bot: NewsbotClient) -> None:
    await bot.add_cog(Ask(bot))
