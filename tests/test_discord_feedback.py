"""👍/👎 votes: stored with the answer, one per user and answer, changeable, and still working after a restart."""

from __future__ import annotations

import sqlite3

from bot.discordbot.feedback_store import FeedbackStore
from bot.discordbot.views import DOWN_ID, UP_ID, FeedbackView
from bot.types import Answer, Citation
from tests.discord_fakes import FakeChannel, FakeGuild, FakeInteraction, FakeSentMessage, FakeUser, Log

ANSWER = Answer(
    "What share will Cove Capital control?",
    "Cove Capital will control 70% of a joint venture. [1]",
    False,
    [Citation(1, "doc", "Title", "Reuters", "2025-11-06", "", "Cove Capital will control 70% of a joint venture.")],
)


def button(view: FeedbackView, custom_id: str):
    return next(c for c in view.children if getattr(c, "custom_id", None) == custom_id)


async def click(view: FeedbackView, custom_id: str, user: FakeUser, message, log: Log) -> str:
    interaction = FakeInteraction(log, message.channel, user=user, message=message)
    await button(view, custom_id).callback(interaction)  # the button's real callback, as discord.py calls it
    return log[-1][1]["content"]


async def test_votes_are_stored_changeable_and_survive_a_restart(tmp_path):
    log = Log()
    channel = FakeChannel(log, FakeGuild())
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    message = FakeSentMessage(log, channel, "answer", {})
    answer_id = store.record_answer(ANSWER, [message.id], channel.guild.id, channel.id)
    alice, bob = FakeUser(), FakeUser()

    view = FeedbackView(store)
    assert view.timeout is None and view.is_persistent()
    assert "Thanks" in await click(view, UP_ID, alice, message, log)
    assert "already voted" in await click(view, UP_ID, alice, message, log)
    assert store.votes(answer_id) == {"up": 1, "down": 0}

    # Restart: a new store object on the same file and a new view instance, as setup_hook registers it.
    store2 = FeedbackStore(tmp_path / "feedback.sqlite3")
    view2 = FeedbackView(store2)
    assert {c.custom_id for c in view2.children} == {UP_ID, DOWN_ID}
    assert "Changed your vote to 👎" in await click(view2, DOWN_ID, alice, message, log)
    await click(view2, DOWN_ID, bob, message, log)
    assert store2.votes(answer_id) == {"up": 0, "down": 2}  # one vote per user, the changed one counted once

    tally = store2.tally()
    assert (tally.up, tally.down, tally.answers) == (0, 2, 1)
    assert tally.voted_down == [(ANSWER.question, 2, 0)]


async def test_what_a_vote_row_holds_and_no_raw_user_id(tmp_path):
    log = Log()
    channel = FakeChannel(log, FakeGuild())
    store = FeedbackStore(tmp_path / "f.sqlite3")
    message = FakeSentMessage(log, channel, "answer", {})
    store.record_answer(ANSWER, [message.id], channel.guild.id, channel.id)
    user = FakeUser(id=987654321012345678)
    await click(FeedbackView(store), DOWN_ID, user, message, log)
    db = sqlite3.connect(tmp_path / "f.sqlite3")
    row = db.execute(
        "SELECT a.time, a.guild_id, a.channel_id, a.question, a.answer, a.citations, v.vote, v.user_hash"
        " FROM votes v JOIN answers a ON a.id = v.answer_id"
    ).fetchone()
    dump = "\n".join(db.iterdump())
    assert row[1:4] == (channel.guild.id, channel.id, ANSWER.question) and row[4] == ANSWER.answer
    assert '"quote": "Cove Capital will control 70%' in row[5] and row[6] == "down" and len(row[7]) == 64
    assert str(user.id) not in dump  # only a salted hash of the user id is stored


async def test_vote_on_an_unknown_message_explains(tmp_path):
    log = Log()
    message = FakeSentMessage(log, FakeChannel(log, FakeGuild()), "old", {})
    text = await click(FeedbackView(FeedbackStore(tmp_path / "f.sqlite3")), UP_ID, FakeUser(), message, log)
    assert "no longer have this answer" in text


def test_history_walks_the_chain_and_skips_refusals(tmp_path):
    store = FeedbackStore(tmp_path / "f.sqlite3")
    a = store.record_answer(Answer("q1", "a1", False), [1], 1, 2, conversation_id=9)
    b = store.record_answer(Answer("q2", "nope", True), [2], 1, 2, conversation_id=9, parent_id=a)
    c = store.record_answer(Answer("q3", "a3", False), [3], 1, 2, conversation_id=9, parent_id=b)
    assert [t.question for t in store.history(c)] == ["q1", "q3"]
    assert store.latest_in_conversation(9).id == c and store.answer_for_message(2).id == b
