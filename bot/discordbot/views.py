"""The 👍/👎 buttons under every answer: a persistent view (fixed custom ids, no timeout).

The answer a click is about is looked up by the message it was clicked on, so one view registered
with ``bot.add_view`` in ``setup_hook`` serves every answer ever posted, across restarts.
"""

from __future__ import annotations

import asyncio
from typing import Any

import discord

from bot.discordbot.common import log_error, respond
from bot.discordbot.feedback_store import FeedbackStore

UP_ID = "newsbot:feedback:up"
DOWN_ID = "newsbot:feedback:down"
EMOJI = {"up": "👍", "down": "👎"}


class FeedbackView(discord.ui.View):
    """👍 and 👎; a vote is stored per user and answer, and a second click changes it."""

    def __init__(self, store: FeedbackStore) -> None:
        super().__init__(timeout=None)
        self.store = store

    @discord.ui.button(emoji="👍", style=discord.ButtonStyle.secondary, custom_id=UP_ID)
    async def up(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self.record(interaction, "up")

    @discord.ui.button(emoji="👎", style=discord.ButtonStyle.secondary, custom_id=DOWN_ID)
    async def down(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self.record(interaction, "down")

    async def record(self, interaction: Any, vote: str) -> None:
        try:
            message_id = interaction.message.id
            answer = await asyncio.to_thread(self.store.answer_for_message, message_id)
            if answer is None:
                await respond(interaction, "I no longer have this answer on file, so I can't record a vote on it.")
                return
            before = await asyncio.to_thread(self.store.vote, answer.id, interaction.user.id, vote)
            if before == vote:
                text = f"You already voted {EMOJI[vote]} on this answer."
            elif before:
                text = f"Changed your vote to {EMOJI[vote]}. Thanks!"
            else:
                text = f"Thanks for the {EMOJI[vote]}!" + (" Voted-down answers get reviewed." if vote == "down" else "")
            await respond(interaction, text)
        except Exception as exc:
            error_id = log_error(exc, "a feedback vote")
            await respond(interaction, f"Sorry, I couldn't record that vote (error id `{error_id}`).")
