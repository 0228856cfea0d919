"""Small helpers every part of the Discord skin shares: error ids, and answering an interaction as Discord will show it.

Discord's rule that shapes these: after a "thinking…" defer, the next message sent for the interaction takes
the place of the thinking message, with the visibility (public or only-you) chosen when deferring; flags
sent with it are ignored. So the helpers remember, per interaction, whether a thinking message is still
waiting, and an error sent then is said publicly on purpose after a public defer, never sent as if private.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from discord.utils import MISSING

from bot.discordbot.render import NO_MENTIONS

log = logging.getLogger("newsbot.discord")

# Key in ``Interaction.extras``: present while a thinking message waits to be replaced; the value is
# whether it is private (ephemeral), as fixed at the defer.
THINKING = "newsbot.thinking"


def log_error(exc: BaseException, where: str) -> str:
    """Log ``exc`` with its traceback under a fresh error id, and return the id."""
    error_id = uuid.uuid4().hex[:8]
    log.error("error %s in %s", error_id, where, exc_info=(type(exc), exc, exc.__traceback__))
    return error_id


def error_text(error_id: str) -> str:
    return (
        f"Sorry, something went wrong on my side (error id `{error_id}`). I'm still running: try again, or tell an admin the id."
    )


async def think(interaction: Any, *, ephemeral: bool = False) -> None:
    """Acknowledge at once with "newsbot is thinking…" (Discord allows 3 s); the message replacing it is
    public, or seen only by the user when ``ephemeral``: Discord fixes that here, not when it is sent."""
    await interaction.response.defer(thinking=True, ephemeral=ephemeral)
    interaction.extras[THINKING] = ephemeral


def thinking_done(interaction: Any) -> None:
    """The thinking message has been replaced (by a followup or an edit of the original response)."""
    interaction.extras.pop(THINKING, None)


async def followup(interaction: Any, content: Any = MISSING, **fields: Any) -> Any:
    """Send a followup message (the first replaces the thinking message); nothing in it pings."""
    message = await interaction.followup.send(content, wait=True, allowed_mentions=NO_MENTIONS, **fields)
    thinking_done(interaction)
    return message


async def respond(interaction: Any, text: str, ephemeral: bool = True) -> None:
    """Say ``text`` to whoever used the interaction, deferred or not; never raises (the bot stays up).

    ``ephemeral`` is honoured where Discord honours it: a first response, or a followup after the
    thinking message was replaced. While a public thinking message waits, the text replaces it and is
    public, whatever ``ephemeral`` asks: it is sent so, not dressed as private.
    """
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=ephemeral, allowed_mentions=NO_MENTIONS)
            return
        if THINKING in interaction.extras:
            ephemeral = interaction.extras[THINKING]
        await followup(interaction, text, ephemeral=ephemeral)
    except Exception:
        log.warning("could not send a reply to an interaction", exc_info=True)
