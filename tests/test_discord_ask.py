"""Asking newsbot in Discord, from the user's side: what they do, what they see, what Discord holds after.

Everything runs through simcord (see ``tests/discord_world.py``): the real bot and the real answering
pipeline behind discord.py's own command tree, views, parsers and HTTP routes, against an in-memory
Discord that enforces its rules. Each answer here comes from the real answerer over the real articles.
"""

from __future__ import annotations

import re

import discord
import pytest
import simcord

from bot.discordbot.cogs.ask import THREAD_HINT
from bot.discordbot.render import REFUSAL_HINT
from tests.discord_world import FOLLOW_UP, INTENTS, Q1, REST, World, never_pings, restarted

ERROR_ID = re.compile(r"error id `([0-9a-f]{8})`")


def answer_of(result: simcord.InteractionResult) -> simcord.ResponseMessage:
    assert result.response is not None, result
    return result.response


# -- /ask ----------------------------------------------------------------------------------------
@INTENTS
async def test_ask_thinks_then_answers_with_sources_buttons_and_a_thread(world: World, bot_settings):
    result = await world.alice.slash(world.news, "ask", question=Q1)

    # Acknowledged at once with "newsbot is thinking…" (a deferred response), before the answer was worked out.
    callbacks = world.requests("POST", "/callback")
    assert [c.json for c in callbacks] == [{"type": 5}]
    answer = answer_of(result)
    assert not answer.ephemeral and not result.followups  # the answer replaced the thinking message, for everyone
    assert answer.content.startswith(f"> {Q1}\n")  # what was asked, since Discord shows only "used /ask"
    assert "70%" in answer.content and "[1]" in answer.content
    (sources,) = answer.embeds
    assert sources.title == "Sources" and [f.name for f in sources.fields][:1] == ["[1]"]
    assert "Reuters · 2025-11-06" in sources.fields[0].value and "\n> “" in sources.fields[0].value
    buttons = [c for row in answer.components for c in row["components"]]
    assert [b["custom_id"] for b in buttons] == ["newsbot:feedback:up", "newsbot:feedback:down"]
    assert [b["emoji"]["name"] for b in buttons] == ["👍", "👎"]

    # A thread on the answer, named after the question; without the Message Content intent it says how to follow up.
    (thread,) = world.news.threads
    assert thread.id == answer.id and thread.name == Q1
    hint = [m.content for m in world.bot_messages(thread)]
    assert hint == ([] if bot_settings["message_content"] else [THREAD_HINT])
    assert not list(never_pings(world.env.http_requests))


@pytest.mark.parametrize("bot_settings", [{"threads": False}])
async def test_threads_setting_off_answers_without_a_thread(world: World):
    result = await world.alice.slash(world.news, "ask", question=Q1)
    assert "70%" in answer_of(result).content and world.news.threads == []


async def test_a_question_the_articles_dont_cover_is_refused_plainly(world: World):
    result = await world.alice.slash(world.news, "ask", question="What is the capital of France?")
    refusal = answer_of(result)
    assert refusal.content == f"> What is the capital of France?\n{REFUSAL_HINT}"
    assert refusal.embeds == [] and len(refusal.components) == 1  # no sources; 👍/👎 still there
    assert world.news.threads == []  # nothing to follow up on


async def test_answers_never_ping_even_when_the_question_does(world: World):
    role = world.guild.create_role("Everyone-ish", mentionable=True)
    question = f"@everyone {world.bob.mention} <@&{role.id}> who will develop the tungsten deposit?"
    result = await world.alice.slash(world.news, "ask", question=question)
    await world.alice.send(world.news, world.mention(question))

    answer = answer_of(result).message
    assert "@everyone" in answer.content and world.bob.mention in answer.content  # shown as written...
    assert not answer.mention_everyone  # ...but Discord notified nobody
    reply = world.bot_messages(world.news)[-1]
    assert reply.reference is not None and not reply.mention_everyone
    assert not list(never_pings(world.env.http_requests))


# -- follow-ups ------------------------------------------------------------------------------------
@INTENTS
async def test_follow_up_in_the_thread_is_about_the_earlier_question(world: World, bot_settings):
    await world.alice.slash(world.news, "ask", question=Q1)
    (thread,) = world.news.threads

    await world.alice.send(thread, FOLLOW_UP)  # a plain message in the thread
    if bot_settings["message_content"]:
        plain = world.bot_messages(thread)[-1]
        assert REST in plain.content and plain.reference.message_id == thread.history()[-2].id
    else:  # Discord withholds its text; the hint at the top of the thread said to mention the bot
        assert [m.content for m in world.bot_messages(thread)] == [THREAD_HINT]

    await world.bob.send(thread, world.mention(FOLLOW_UP))
    mentioned = world.bot_messages(thread)[-1]
    assert REST in mentioned.content
    assert REST not in world.service.answer(FOLLOW_UP).answer  # the thread's history made the difference

    # /ask in the thread is a follow-up too, and slash commands never need the intent.
    result = await world.alice.slash(thread, "ask", question=FOLLOW_UP)
    assert REST in answer_of(result).content and len(world.news.threads) == 1


@INTENTS
async def test_mention_in_a_channel_is_answered_in_place_without_a_ping(world: World):
    asked = await world.alice.send(world.news, world.mention(Q1))

    (reply,) = world.bot_messages(world.news)
    assert reply.reference.message_id == asked.id  # a reply to the question...
    assert world.alice.id not in [u.id for u in reply.mentions]  # ...that does not ping its author
    assert "70%" in reply.content and reply.embeds[0].title == "Sources"
    assert [c.custom_id for c in reply.components[0].children] == ["newsbot:feedback:up", "newsbot:feedback:down"]
    assert world.requests("POST", "/typing")  # "newsbot is typing…" while it worked
    assert not list(never_pings(world.env.http_requests))


@INTENTS
async def test_reply_to_a_mention_answer_follows_up(world: World):
    await world.alice.send(world.news, world.mention(Q1))
    answer = world.bot_messages(world.news)[-1]

    await world.alice.send(world.news, FOLLOW_UP, reply_to=answer)  # with the reply's @ mention on (the default)

    follow_up = world.bot_messages(world.news)[-1]
    assert REST in follow_up.content
    await world.bob.send(world.news, "Who will develop the deposit?", reply_to=follow_up)  # the chain goes on
    assert "Cove Capital" in world.bot_messages(world.news)[-1].content


@INTENTS
async def test_reply_to_a_mention_answer_with_its_ping_turned_off(world: World, bot_settings):
    await world.alice.send(world.news, world.mention(Q1))
    answer = world.bot_messages(world.news)[-1]

    # simcord's members always reply with the @ mention on; this is the reply with it off, made through
    # simcord's backend (not its public API), as Discord would deliver it.
    from simcord.backend.models.message import AllowedMentions

    reference = {"channel_id": str(world.news.id), "message_id": str(answer.id)}
    world.env.backend.create_message(
        world.news.id, world.alice.id, FOLLOW_UP, reference=reference, allowed_mentions=AllowedMentions(replied_user=False)
    )
    await world.env.settle()

    reply = world.bot_messages(world.news)[-1]
    if bot_settings["message_content"]:
        assert REST in reply.content
    else:  # withheld: the bot says what the reply needs
        assert reply.content.startswith("Discord doesn't show me the text of a reply that doesn't mention me")


@INTENTS
async def test_reply_to_an_ask_answer(world: World, bot_settings):
    result = await world.alice.slash(world.news, "ask", question=Q1)
    (thread,) = world.news.threads

    await world.alice.send(world.news, FOLLOW_UP, reply_to=answer_of(result))

    reply = world.bot_messages(world.news)[-1]
    if bot_settings["message_content"]:
        assert REST in reply.content
    else:
        # Discord shows the bot no text of a reply to an interaction's answer; it says so and where to ask.
        assert "Discord doesn't show me the text of that reply" in reply.content
        assert f"in its thread <#{thread.id}>" in reply.content and "`/ask`" in reply.content
    assert not list(never_pings(world.env.http_requests))


async def test_a_bare_mention_asks_for_a_question(world: World):
    await world.alice.send(world.news, world.me.mention)
    assert "Ask me a question after the mention" in world.bot_messages(world.news)[-1].content


async def test_messages_not_for_the_bot_are_left_alone(world: World):
    await world.alice.send(world.news, "Anyone read the tungsten story?")
    await world.bob.send(world.news, "Yes", reply_to=world.news.last_message)
    assert world.bot_messages(world.news) == [] and not world.requests("POST", "/typing")


# -- limits -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("bot_settings", [{"cooldown_seconds": 30.0}])
async def test_cooldown_holds_a_user_back_until_the_time_has_passed(world: World):
    await world.alice.slash(world.news, "ask", question=Q1)

    again = await world.alice.slash(world.news, "ask", question=FOLLOW_UP)
    assert again.ephemeral and again.response.content == "Slow down a little: you can ask again in 30 s."
    await world.alice.send(world.news, world.mention(Q1))  # mentions share the cooldown
    assert world.bot_messages(world.news)[-1].content.startswith("Slow down a little")
    other = await world.bob.slash(world.news, "ask", question=Q1)  # another user is not held up
    assert "70%" in answer_of(other).content

    await world.env.advance_time(31)  # simcord's clock: the bot must read time when it checks, not at import
    later = await world.alice.slash(world.news, "ask", question=Q1)
    assert "70%" in answer_of(later).content and not later.ephemeral
    assert not list(never_pings(world.env.http_requests))


async def test_allowed_channels_refuse_elsewhere_and_count_threads_as_their_channel(world: World):
    elsewhere = world.guild.create_text_channel("random")
    await world.env.restart_bot(restarted(world.client, allowed_channels=[world.news.id]))

    refused = await world.alice.slash(elsewhere, "ask", question=Q1)
    assert refused.ephemeral and refused.response.content == f"I don't answer in this channel. Ask me in <#{world.news.id}>."
    await world.alice.send(elsewhere, world.mention(Q1))
    assert world.bot_messages(elsewhere)[-1].content.startswith("I don't answer in this channel.")

    await world.alice.slash(world.news, "ask", question=Q1)
    (thread,) = world.news.threads
    await world.alice.send(thread, world.mention(FOLLOW_UP))
    assert REST in world.bot_messages(thread)[-1].content


async def test_direct_messages_are_told_the_bot_answers_in_servers(world: World):
    carol = world.env.create_user("carol")
    await carol.send_dm(Q1)
    (reply,) = [m for m in carol.dm_channel.history() if m.author.id == world.me.id]
    assert reply.content == "I only answer in servers, not in direct messages."
    with pytest.raises(simcord.SetupError, match="not visible"):  # /ask is server-only: Discord hides it in DMs
        await carol.slash("ask", question=Q1)


async def test_a_too_long_question_is_refused_with_the_limit(world: World):
    result = await world.alice.slash(world.news, "ask", question="Why? " * 401)
    assert result.ephemeral and "2,000" in result.response.content and world.news.threads == []


# -- failures -----------------------------------------------------------------------------------------
async def test_an_error_after_thinking_is_said_in_the_open_with_an_error_id(world: World, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("the store went away")

    monkeypatch.setattr(world.service.retriever, "search", broken)
    result = await world.alice.slash(world.news, "ask", question=Q1)

    # The public "thinking…" message is replaced by the error, for everyone: Discord would ignore "only you"
    # there, so the bot does not ask for it (it would believe the channel cannot see the message).
    shown = answer_of(result)
    error_id = ERROR_ID.search(shown.content).group(1)
    assert not shown.ephemeral and not result.followups
    carrying = [r for r in world.env.http_requests if error_id in str(r.json)]
    assert carrying and all(not int((r.json or {}).get("flags") or 0) & 64 for r in carrying)
    (record,) = [r for r in caplog.records if error_id in r.getMessage()]
    assert record.exc_info[0] is RuntimeError  # the traceback is in the log under the same id

    monkeypatch.undo()
    assert "70%" in answer_of(await world.alice.slash(world.news, "ask", question=Q1)).content  # still running


async def test_discord_500_on_the_answer_gives_an_error_id_not_endless_thinking(world: World):
    world.env.inject_error("POST", "/webhooks/*", status=500)  # the followup carrying the answer fails once
    result = await world.alice.slash(world.news, "ask", question=Q1)
    assert ERROR_ID.search(answer_of(result).content) and world.news.threads == []
    assert "70%" in answer_of(await world.alice.slash(world.news, "ask", question=Q1)).content


async def test_no_permission_to_open_threads_still_answers(world: World):
    me = world.guild.me
    assert me is not None
    closed = world.guild.create_text_channel("no-threads", overwrites={me: discord.PermissionOverwrite(create_public_threads=False)})
    result = await world.alice.slash(closed, "ask", question=Q1)
    assert "70%" in answer_of(result).content and not ERROR_ID.search(answer_of(result).content)
    assert closed.threads == [] and world.requests("POST", "/threads")  # it tried; Discord said 403


async def test_discord_500_on_a_reply_gives_an_error_id_and_the_next_question_works(world: World):
    world.env.inject_error("POST", "/channels/*/messages", status=500)
    await world.alice.send(world.news, world.mention(Q1))
    assert ERROR_ID.search(world.bot_messages(world.news)[-1].content)
    await world.alice.send(world.news, world.mention(Q1))
    assert "70%" in world.bot_messages(world.news)[-1].content


# -- several servers ------------------------------------------------------------------------------------
async def test_two_servers_keep_their_answers_threads_and_follow_ups_apart(world: World):
    other = world.env.create_guild("Other newsroom")
    desk = other.create_text_channel("desk")
    dan = other.add_member(world.env.create_user("dan"))

    await world.alice.slash(world.news, "ask", question=Q1)
    await dan.slash(desk, "ask", question="Who will develop the tungsten deposit?")
    (ours,), (theirs,) = world.news.threads, desk.threads
    await dan.send(theirs, world.mention("And what share will it control?"))
    await world.alice.send(ours, world.mention(FOLLOW_UP))

    assert REST in world.bot_messages(ours)[-1].content
    assert "70%" in world.bot_messages(theirs)[-1].content
    assert [t.id for t in desk.threads] == [theirs.id] and [t.id for t in world.news.threads] == [ours.id]
