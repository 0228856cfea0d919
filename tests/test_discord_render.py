"""Answers rendered for Discord stay within every limit; links don't unfurl; refusals list no sources."""

from __future__ import annotations

import discord

from bot.discordbot.render import (
    EMBED_DESCRIPTION_LIMIT,
    EMBED_FIELDS_LIMIT,
    EMBED_TITLE_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FOOTER_LIMIT,
    MESSAGE_LIMIT,
    embed_size,
    quiet_links,
    render_answer,
    split_message,
    thread_name,
)
from bot.types import REFUSAL, Answer, Citation


def within_limits(embed: discord.Embed) -> None:
    assert len(embed.title or "") <= EMBED_TITLE_LIMIT
    assert len(embed.description or "") <= EMBED_DESCRIPTION_LIMIT
    assert len(embed.fields) <= EMBED_FIELDS_LIMIT
    for f in embed.fields:
        assert 0 < len(f.name) <= FIELD_NAME_LIMIT and 0 < len(f.value) <= FIELD_VALUE_LIMIT
    assert len(embed.footer.text or "") <= FOOTER_LIMIT
    assert embed_size(embed) <= EMBED_TOTAL_LIMIT


def cite(
    n: int, quote: str = "Cove Capital will control 70% of a joint venture.", url: str = "https://example.com/a"
) -> Citation:
    return Citation(n, f"doc{n}", f"Title number {n} " + "long " * 80, "Reuters", "2025-11-06", url, quote)


def test_long_answers_split_at_sentence_boundaries_within_2000():
    sentence = "Cove Capital will control 70% of a joint venture and sales of the metal. [1] "
    text = sentence * 80  # ~6,000 characters, one paragraph
    parts = split_message(text)
    assert len(parts) >= 3 and all(len(p) <= MESSAGE_LIMIT for p in parts)
    assert all(p.endswith("[1]") for p in parts)  # cut after a sentence and its marker, never inside
    assert " ".join(parts).split() == text.split()  # nothing lost


def test_split_prefers_paragraphs_and_hard_cuts_only_unbroken_runs():
    para = ("word " * 300).strip()  # 1,499 characters
    parts = split_message(f"{para}\n\n{para}")
    assert parts == [para, para]
    blob = "x" * 4500
    assert [len(p) for p in split_message(blob)] == [2000, 2000, 500]
    assert split_message("") == []


def test_rendered_answer_with_many_long_citations_stays_within_every_limit():
    answer = Answer(
        "q",
        "Answer text [1]. " * 300,
        False,
        [cite(n, quote="A very long quoted sentence " * 60) for n in range(1, 41)],
        "llm",
        {"total": 12.3},
    )
    messages = render_answer(answer, question_line=True)
    assert all(len(m.content) <= MESSAGE_LIMIT for m in messages)
    assert [m.embed is not None for m in messages] == [False] * (len(messages) - 1) + [True]
    embed = messages[-1].embed
    within_limits(embed)
    assert len(embed.fields) == EMBED_FIELDS_LIMIT and embed.fields[-1].name.startswith("…and 16 more")


def test_sources_embed_numbers_links_titles_and_quotes():
    answer = Answer(
        "What share?",
        "Cove Capital will control 70% of a joint venture. [1] Tau-Ken Samruk holds 30%. [2]",
        False,
        [cite(1), cite(2, "Tau-Ken Samruk holds 30%.", url="")],
        "extractive",
        {"total": 8.0},
    )
    (message,) = render_answer(answer)
    assert message.content == answer.answer
    first, second = message.embed.fields
    assert first.name == "[1]" and first.value.startswith("[Title number 1") and "](https://example.com/a)" in first.value
    assert "Reuters · 2025-11-06" in first.value and first.value.endswith("> “Cove Capital will control 70% of a joint venture.”")
    assert second.value.startswith("**Title number 2")  # no URL: the title is not a link
    assert message.embed.footer.text == "extractive answer · 8 ms · was this useful?"
    within_limits(message.embed)


def test_refusal_says_the_articles_dont_cover_it_and_lists_no_sources():
    (message,) = render_answer(Answer("What is the capital of France?", REFUSAL, True, [], "extractive"))
    assert "don't cover this" in message.content and message.embed is None


def test_links_in_text_do_not_unfurl():
    assert (
        quiet_links("See https://example.com/a. And <https://x.org> too")
        == "See <https://example.com/a>. And <https://x.org> too"
    )
    (message,) = render_answer(Answer("q", "More at https://example.com/page [1]", False, [cite(1)], "extractive"))
    assert "<https://example.com/page>" in message.content


def test_thread_names_fit():
    assert len(thread_name("why " * 100)) <= 100 and thread_name("  a \n b ") == "a b"
