"""Small helpers every part of the Discord skin shares: error ids and answering an interaction safely."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from bot.discordbot.render import NO_MENTIONS

log = logging.getLogger("newsbot.discord")


def log_error(exc: BaseException, where: str) -> str:
    """Log ``exc`` with its traceback under a fresh error id, and return the id."""
    error_id = uuid.uuid4().hex[:8]
    log.error("error %s in %s", error_id, where, exc_info=(type(exc), exc, exc.__traceback__))
    return error_id


def error_text(error_id: str) -> str:
    return (
        f"Sorry, something went wrong on my side (error id `{error_id}`). I'm still running: try again, or tell an admin the id."
    )


async def respond(interaction: Any, text: str, ephemeral: bool = True) -> None:
    """Answer an interaction whether or not it was deferred; never raises (the bot stays up)."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=ephemeral, allowed_mentions=NO_MENTIONS)
        else:
            await interaction.response.send_message(text, ephemeral=ephemeral, allowed_mentions=NO_MENTIONS)
    except Exception:
        log.warning("could not send a reply to an interaction", exc_info=True)
