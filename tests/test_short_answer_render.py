"""The short answer as people see it: in bold before the quote, in the terminal and in Discord's message text."""

from __future__ import annotations

from bot.discordbot.render import render_answer
from bot.types import REFUSAL, Answer, Citation

QUOTE = "Severnyi Katpar to produce 12,000 mt/year of tungsten."


def _answer(short: str | None, refused: bool = False) -> Answer:
    cite = Citation(1, "d", "Title", "S&P", "2025-11-07", "", QUOTE)
    return Answer("How much?", REFUSAL if refused else f"{QUOTE} [1]", refused, [] if refused else [cite], short_answer=short)


def test_discord_message_leads_with_the_short_answer_in_bold():
    (message,) = render_answer(_answer("12,000 mt"))
    assert message.content == f"**12,000 mt** — {QUOTE} [1]"
    (plain,) = render_answer(_answer(None))
    assert plain.content == f"{QUOTE} [1]"
    (refused,) = render_answer(_answer("12,000 mt", refused=True))
    assert "12,000 mt" not in refused.content


def test_json_carries_short_answer_and_lead_for_people():
    data = _answer("12,000 mt").as_dict()
    assert data["short_answer"] == "12,000 mt" and "trace" not in data and "note" not in data
    assert _answer(None).as_dict()["short_answer"] is None
    assert _answer("12,000 mt").lead().startswith("**12,000 mt** — ")
