"""A conversation's memory for follow-ups: the last few answered turns, oldest first (used by `newsbot chat`).

The Discord bot keeps the same thing per thread or reply chain in its SQLite store
(:meth:`bot.discordbot.feedback_store.FeedbackStore.history`), with the same rule: refusals are left out.
"""

from __future__ import annotations

from collections import deque

from bot.types import Answer, Turn

HISTORY_TURNS = 3


class Conversation:
    """The last ``turns`` answered exchanges; pass :attr:`history` to ``Newsbot.answer``."""

    def __init__(self, turns: int = HISTORY_TURNS) -> None:
        self._turns: deque[Turn] = deque(maxlen=turns)

    @property
    def history(self) -> list[Turn]:
        return list(self._turns)

    def add(self, answer: Answer) -> None:
        """Remember an answered turn; a refusal holds nothing to follow up on."""
        if not answer.refused:
            cited = tuple(dict.fromkeys(c.doc_id for c in answer.citations))
            self._turns.append(Turn(answer.question, answer.answer, cited))

    def clear(self) -> None:
        self._turns.clear()
