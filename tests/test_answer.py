"""The extractive answerer's general rules, and the answer service's input checks (fake embedder)."""

from __future__ import annotations

import pytest

from bot.extractive import Want, wanted
from bot.service import QuestionError
from bot.types import Turn


@pytest.mark.parametrize(
    ("question", "want"),
    [
        ("How much antimony did Tajikistan export?", Want.QUANTITY),
        ("How many tonnes a year?", Want.QUANTITY),
        ("What share of the venture does Cove hold?", Want.PERCENT),
        ("What stake does the state firm keep?", Want.PERCENT),
        ("What is the estimated cost of the mine?", Want.MONEY),
        ("When will production begin?", Want.TIME),
        ("In what year did mining stop?", Want.TIME),
        ("Who signed the memorandum?", Want.PERSON),
        ("Which US company signed with the ministry?", Want.PERSON),
        ("Which countries take part?", Want.LIST),
        ("Which country ranks second in antimony?", Want.NAME),
        ("Why does the deal matter?", Want.ANY),
    ],
)
def test_question_kind(question: str, want: Want):
    assert wanted(question) is want


def test_answer_quotes_sentences_with_matching_citations(fake_bot):
    answer = fake_bot.answer("How much antimony did Tajikistan export in 2024?")
    assert not answer.refused
    assert "17,000" in answer.answer
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for c in answer.citations:
        assert f"[{c.n}]" in answer.answer
        assert c.quote in answer.answer
        assert c.title and c.source and c.published
    assert answer.citations[0].title == "Central Asian nations sign critical mineral deals with US"
    assert set(answer.timings_ms) == {"retrieve", "answer", "total"}


def test_refuses_when_a_named_thing_is_not_in_the_corpus(fake_bot):
    for question in ["What is the capital of France?", "What lithium deals did Chile sign with the United States?"]:
        answer = fake_bot.answer(question)
        assert answer.refused and answer.citations == [], question
        assert "don't say" in answer.answer


@pytest.mark.parametrize(
    "question",
    [
        # Kyrgyzstan is there, gold is not, and 2024 only in another country's sentence
        pytest.param("How much gold did Kyrgyzstan export in 2024?", id="known-country-unknown-fact"),
        # Kazakhstan and production are there; lithium is not, so no amount can be about it
        pytest.param("How much lithium does Kazakhstan produce?", id="measured-thing-absent"),
        # Tau-Ken Samruk is there, a budget is not: the joint-venture shares must not stand in for it
        pytest.param("What is the annual budget of Tau-Ken Samruk?", id="attribute-absent"),
        # the only Turkmenistan sentence lists countries, and a role question wants a person
        pytest.param("Who is the president of Turkmenistan?", id="role-wants-a-person"),
    ],
)
def test_refuses_when_the_corpus_lacks_the_asked_fact(fake_bot, question: str):
    assert fake_bot.answer(question).refused


def test_refuses_when_the_wanted_kind_of_answer_is_missing(fake_bot):
    # Uzbekistan and uranium are both there, in one sentence, but no amount is.
    answer = fake_bot.answer("How much uranium does Uzbekistan process?")
    assert answer.refused
    assert "quantity" in answer.note


def test_misspelt_names_still_match(fake_bot):
    answer = fake_bot.answer("how much antimony did tajikstan export in 2024")
    assert not answer.refused and "17,000" in answer.answer


def test_follow_up_uses_the_earlier_turn(fake_bot):
    first = "What share of the tungsten joint venture will Cove Capital control?"
    earlier = fake_bot.answer(first)
    assert "70%" in earlier.answer
    alone = fake_bot.answer("And who holds the rest?")
    follow = fake_bot.answer("And who holds the rest?", history=[Turn(first, earlier.answer)])
    assert alone.refused or "30%" not in alone.answer
    assert not follow.refused and "Tau-Ken Samruk controlling the remaining 30%" in follow.answer


@pytest.mark.parametrize("question", ["", "   ", "x" * 2001])
def test_empty_or_huge_question_is_a_clear_error(fake_bot, question: str):
    with pytest.raises(QuestionError, match=r"empty|limit"):
        fake_bot.answer(question)


def test_question_at_the_limit_is_answered(fake_bot):
    answer = fake_bot.answer(("tungsten " * 250)[:2000])
    assert answer.question


def test_who_without_a_role_may_be_answered_by_a_country(fake_bot):
    answer = fake_bot.answer("Who is the world's largest tungsten producer?")
    assert not answer.refused and "China" in answer.answer
