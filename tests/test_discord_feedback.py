"""👍/👎 under answers, from the user's side, and what ``newsbot feedback`` makes of them (through simcord).

Votes are private (only the voter sees the thanks), one per user and answer, changeable, kept with the
question and answer in ``NEWSBOT_DATA_DIR/feedback.sqlite3``, and the buttons of answers posted before a
restart keep working (a persistent view, found again by message id).
"""

from __future__ import annotations

import sqlite3

from typer.testing import CliRunner

from bot import cli
from bot.discordbot.client import NewsbotClient
from bot.discordbot.feedback_store import FeedbackStore
from bot.discordbot.views import DOWN_ID, UP_ID
from bot.types import Answer, Citation, Turn
from tests.discord_world import FOLLOW_UP, Q1, REST, World, restarted


async def test_votes_are_private_changeable_and_tallied_by_newsbot_feedback(world: World, monkeypatch):
    answer = (await world.alice.slash(world.news, "ask", question=Q1)).response
    refusal = (await world.alice.slash(world.news, "ask", question="What is the capital of France?")).response

    said = []
    for member, button, message in [
        (world.alice, UP_ID, answer),
        (world.alice, UP_ID, answer),
        (world.alice, DOWN_ID, answer),
        (world.bob, DOWN_ID, answer),
        (world.bob, UP_ID, refusal),
    ]:
        vote = await member.click(message, custom_id=button)
        assert vote.ephemeral  # only the voter sees it
        said.append(vote.response.content)
    assert said == [
        "Thanks for the 👍!",
        "You already voted 👍 on this answer.",
        "Changed your vote to 👎. Thanks!",
        "Thanks for the 👎! Voted-down answers get reviewed.",
        "Thanks for the 👍!",
    ]
    assert not any("Thanks" in m.content for m in world.news.history(viewer=world.mia))

    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(world.service.settings.data_dir))
    monkeypatch.chdir(world.service.settings.data_dir)  # no .env from the checkout
    tally = CliRunner().invoke(cli.app, ["feedback"])
    assert tally.exit_code == 0, tally.output
    assert "2 answers posted; votes: 👍 1  👎 2" in tally.stdout
    assert f"👎 2 👍 0  {Q1}" in tally.stdout and "capital of France" not in tally.stdout


async def test_what_a_vote_row_holds_and_no_raw_user_id(world: World):
    answer = (await world.alice.slash(world.news, "ask", question=Q1)).response
    await world.bob.click(answer, custom_id=DOWN_ID)

    db = sqlite3.connect(world.service.settings.data_dir / "feedback.sqlite3")
    row = db.execute(
        "SELECT a.guild_id, a.channel_id, a.conversation_id, a.question, a.answer, a.citations, v.vote, v.user_hash"
        " FROM votes v JOIN answers a ON a.id = v.answer_id"
    ).fetchone()
    (thread,) = world.news.threads
    assert row[:4] == (world.guild.id, world.news.id, thread.id, Q1) and "70%" in row[4]
    assert '"quote": "Cove Capital will control 70%' in row[5] and row[6] == "down" and len(row[7]) == 64
    assert str(world.bob.id) not in "\n".join(db.iterdump())  # only a salted hash of the voter's id is kept


async def test_old_buttons_and_threads_keep_working_after_a_restart(world: World):
    answer = (await world.alice.slash(world.news, "ask", question=Q1)).response
    (thread,) = world.news.threads

    await world.env.restart_bot(restarted(world.client))  # a new process: new view objects, same data

    vote = await world.bob.click(answer, custom_id=UP_ID)  # a button on a message the old process posted
    assert vote.response.content == "Thanks for the 👍!"
    await world.alice.send(thread, world.mention(FOLLOW_UP))  # the thread's history came from the data dir
    assert REST in world.bot_messages(thread)[-1].content


async def test_a_vote_on_an_answer_no_longer_on_file_says_so(world: World, tmp_path):
    answer = (await world.alice.slash(world.news, "ask", question=Q1)).response
    forgetful = NewsbotClient(world.client.service, world.client.settings, FeedbackStore(tmp_path / "new.sqlite3"))
    await world.env.restart_bot(forgetful)  # e.g. NEWSBOT_DATA_DIR moved

    vote = await world.alice.click(answer, custom_id=UP_ID)
    assert vote.ephemeral and "no longer have this answer" in vote.response.content
    forgetful.executor.shutdown(wait=False)


def test_history_walks_the_chain_and_skips_refusals(tmp_path):
    store = FeedbackStore(tmp_path / "f.sqlite3")
    a = store.record_answer(Answer("q1", "a1", False), [1], 1, 2, conversation_id=9)
    b = store.record_answer(Answer("q2", "nope", True), [2], 1, 2, conversation_id=9, parent_id=a)
    c = store.record_answer(Answer("q3", "a3", False), [3], 1, 2, conversation_id=9, parent_id=b)
    assert [t.question for t in store.history(c)] == ["q1", "q3"]
    assert store.latest_in_conversation(9).id == c and store.answer_for_message(2).id == b


def test_history_remembers_which_articles_each_answer_quoted(tmp_path):
    """A follow-up is searched in the articles the answer before it quoted: the store keeps them for it."""
    store = FeedbackStore(tmp_path / "f.sqlite3")
    cites = [Citation(n, doc, "T", "S", "", "", "q") for n, doc in enumerate(["kz-deal", "sp-report", "kz-deal"], start=1)]
    a = store.record_answer(Answer("q1", "a1 [1] [2] [3]", False, cites), [1], 1, 2, conversation_id=9)
    assert store.history(a) == [Turn("q1", "a1 [1] [2] [3]", ("kz-deal", "sp-report"))]
