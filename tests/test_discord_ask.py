"""Asking in Discord, driven through the bot's own handlers with small fakes (see tests/discord_fakes.py).

The service behind the bot is the real pipeline with the hashing embedder (``fake_bot``), wrapped so
every ``answer`` call is logged from the worker thread that runs it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import threading
import time

import discord
import pytest

from bot.discordbot.client import Cooldown, PartialRelay
from bot.discordbot.feedback_store import FeedbackStore
from bot.service import Newsbot
from bot.types import Answer, Citation
from tests.discord_fakes import (
    BOT_ID,
    ClientForTests,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    FakeReference,
    FakeUser,
    Log,
    RecordingService,
    is_quiet,
    ticker,
)

Q1 = "What share of the tungsten joint venture will Cove Capital control?"
FOLLOW_UP = "And who holds the rest?"
REST = "Tau-Ken Samruk controlling the remaining 30%"


@pytest.fixture
def log() -> Log:
    return Log()


@pytest.fixture
def make_client(fake_bot, settings, log, tmp_path):
    """A factory for the real bot class around a recording service; closes what it made."""
    made: list[ClientForTests] = []

    async def make(delay: float = 0.0, service=None, **overrides) -> ClientForTests:
        s = settings.model_copy(update={"cooldown_seconds": 0.0, **overrides})
        service = service or RecordingService(fake_bot, log, delay=delay)
        client = ClientForTests(service, s, FeedbackStore(tmp_path / "feedback.sqlite3"), sync_commands=False)
        await client.setup_hook()  # loads the cogs, registers the persistent view, warms up; no network
        log.clear()  # forget the warm-up question
        made.append(client)
        return client

    yield make
    for client in made:
        client.executor.shutdown(wait=True)


@pytest.fixture
def channel(log) -> FakeChannel:
    return FakeChannel(log, FakeGuild())


def answer_texts(log: Log) -> list[str]:
    return [d["content"] for d in log.sends() if d.get("content")]


async def test_ask_defers_before_any_slow_work(make_client, channel, log):
    client = await make_client(delay=0.3)
    interaction = FakeInteraction(log, channel)
    start = time.perf_counter()
    await client.get_cog("Ask").handle_ask(interaction, Q1)
    events = log.events()
    assert events.index("defer") < events.index("answer") < events.index("followup.send")
    deferred_at = log[events.index("defer")][1]
    assert deferred_at["thinking"] is True
    assert deferred_at["at"] - start < 0.1  # well within Discord's 3 s, though answering takes 0.3 s
    assert log[events.index("answer")][1]["thread"].startswith("newsbot-answer")  # answered off the event loop


async def test_ask_posts_cited_answer_sources_embed_buttons_and_opens_a_thread(make_client, channel, log):
    client = await make_client()
    await client.get_cog("Ask").handle_ask(FakeInteraction(log, channel), Q1)
    (sent,) = [d for e, d in log if e == "followup.send"]
    assert sent["content"].startswith(f"> {Q1}\n")
    assert "70%" in sent["content"] and "[1]" in sent["content"]
    embed = sent["embed"]
    assert embed.title == "Sources" and embed.fields[0].name == "[1]"
    assert "Reuters · 2025-11-06" in embed.fields[0].value and "> “" in embed.fields[0].value
    assert [c.custom_id for c in sent["view"].children] == ["newsbot:feedback:up", "newsbot:feedback:down"]
    assert sent["view"].timeout is None
    (thread,) = channel.threads
    assert thread.id == sent["message"].id and log[log.index_of("create_thread")][1]["name"] == Q1


async def test_threads_setting_off_opens_none(make_client, channel, log):
    client = await make_client(threads=False)
    await client.get_cog("Ask").handle_ask(FakeInteraction(log, channel), Q1)
    assert "create_thread" not in log.events() and "followup.send" in log.events()


async def test_refusal_says_so_and_lists_no_sources(make_client, channel, log):
    client = await make_client()
    await client.get_cog("Ask").handle_ask(FakeInteraction(log, channel), "What is the capital of France?")
    (sent,) = [d for e, d in log if e == "followup.send"]
    assert "don't cover this" in sent["content"] and "embed" not in sent
    assert "view" in sent  # a refusal can be voted on too
    assert "create_thread" not in log.events()


async def test_follow_up_in_the_thread_is_about_the_earlier_subject(make_client, channel, log, fake_bot):
    client = await make_client()
    cog = client.get_cog("Ask")
    await cog.handle_ask(FakeInteraction(log, channel), Q1)
    (thread,) = channel.threads
    # A plain message in the bot's thread (as delivered with the message-content intent).
    await cog.handle_message(FakeMessage(log, thread, FOLLOW_UP))
    answers = [d for e, d in log if e == "answer"]
    assert answers[1]["question"] == FOLLOW_UP and answers[1]["history"][0].question == Q1
    reply = [d for e, d in log if e == "reply"][-1]
    assert REST in reply["content"]
    assert REST not in fake_bot.answer(FOLLOW_UP).answer  # without the thread's history it is about something else
    # And one more turn: the thread's history now holds both earlier exchanges, oldest first.
    await cog.handle_message(FakeMessage(log, thread, f"<@{BOT_ID}> Who will develop the deposit?", mentions=[client.user]))
    third = [d for e, d in log if e == "answer"][2]
    assert [t.question for t in third["history"]] == [Q1, FOLLOW_UP]
    assert third["question"] == "Who will develop the deposit?"


async def test_mention_then_reply_chain_follows_up(make_client, channel, log):
    client = await make_client()
    cog = client.get_cog("Ask")
    await cog.handle_message(FakeMessage(log, channel, f"<@{BOT_ID}> {Q1}", mentions=[client.user]))
    first = [d for e, d in log if e == "reply"][-1]
    assert "70%" in first["content"] and first["mention_author"] is False
    assert "typing" in log.events()
    # A reply to the answer (Discord delivers its content: the reply pings the bot by default).
    reply_to = FakeReference(first["message"].id, resolved=first["message"])
    first["message"].author = client.user
    await cog.handle_message(FakeMessage(log, channel, FOLLOW_UP, mentions=[client.user], reference=reply_to))
    second = [d for e, d in log if e == "reply"][-1]
    assert REST in second["content"]
    assert [d for e, d in log if e == "answer"][-1]["history"][0].question == Q1


async def test_messages_not_for_the_bot_are_ignored(make_client, channel, log):
    client = await make_client()
    cog = client.get_cog("Ask")
    await cog.handle_message(FakeMessage(log, channel, "just chatting about tungsten"))
    await cog.handle_message(FakeMessage(log, channel, f"<@{BOT_ID}> {Q1}", author=FakeUser(bot=True), mentions=[client.user]))
    assert log.events() == []
    await cog.handle_message(FakeMessage(log, channel, f"<@{BOT_ID}>", mentions=[client.user]))  # a bare mention
    assert "Ask me a question after the mention" in answer_texts(log)[0]


async def test_mentions_in_answers_never_ping(make_client, channel, log, fake_bot):
    sneaky = RecordingService(fake_bot, log)
    original = sneaky.answer

    def answer_with_pings(question, history=(), filters=None):
        a = original(question, history, filters)
        a.answer = "@everyone <@123> <@&456> " + a.answer
        return a

    sneaky.answer = answer_with_pings
    client = await make_client(service=sneaky)
    cog = client.get_cog("Ask")
    await cog.handle_ask(FakeInteraction(log, channel), Q1)
    await cog.handle_message(FakeMessage(log, channel, f"<@{BOT_ID}> {Q1}", mentions=[client.user]))
    await cog.handle_ask(FakeInteraction(log, channel), "")  # a refusal message, ephemeral
    sends = log.sends()
    assert len(sends) >= 3 and all(is_quiet(d.get("allowed_mentions")) for d in sends)
    assert any("@everyone" in (d.get("content") or "") for d in sends)


async def test_cooldown_refuses_with_a_message(make_client, channel, log):
    client = await make_client(cooldown_seconds=30.0)
    cog = client.get_cog("Ask")
    user = FakeUser()
    await cog.handle_ask(FakeInteraction(log, channel, user=user), Q1)
    await cog.handle_ask(FakeInteraction(log, channel, user=user), FOLLOW_UP)
    refusal = [d for e, d in log if e == "response.send_message"][-1]
    assert refusal["ephemeral"] is True and re.search(r"ask again in \d+ s", refusal["content"])
    assert len([e for e in log.events() if e == "answer"]) == 1  # the second was never answered
    await cog.handle_ask(FakeInteraction(log, channel), Q1)  # another user is not held up
    assert len([e for e in log.events() if e == "answer"]) == 2


def test_cooldown_clock():
    now = [100.0]
    cd = Cooldown(5, clock=lambda: now[0])
    assert cd.retry_after(1) == 0
    now[0] += 2
    assert cd.retry_after(1) == pytest.approx(3)
    now[0] += 3
    assert cd.retry_after(1) == 0


async def test_channel_allow_list_refuses_elsewhere_and_allows_threads_of_allowed(make_client, log):
    guild = FakeGuild()
    allowed, other = FakeChannel(log, guild), FakeChannel(log, guild)
    client = await make_client(allowed_channels=[allowed.id])
    cog = client.get_cog("Ask")
    await cog.handle_ask(FakeInteraction(log, other), Q1)
    refusal = [d for e, d in log if e == "response.send_message"][-1]
    assert f"Ask me in <#{allowed.id}>" in refusal["content"] and refusal["ephemeral"] is True
    await cog.handle_message(FakeMessage(log, other, f"<@{BOT_ID}> {Q1}", mentions=[client.user]))
    assert "I don't answer in this channel" in [d for e, d in log if e == "reply"][-1]["content"]
    assert "answer" not in log.events()
    await cog.handle_ask(FakeInteraction(log, allowed), Q1)
    (thread,) = allowed.threads
    await cog.handle_message(FakeMessage(log, thread, FOLLOW_UP))  # a thread counts as its parent channel
    assert len([e for e in log.events() if e == "answer"]) == 2


async def test_direct_messages_and_too_long_questions_are_refused(make_client, log):
    client = await make_client()
    cog = client.get_cog("Ask")
    dm = FakeChannel(log, guild=None)
    await cog.handle_ask(FakeInteraction(log, dm), Q1)
    assert "only answer in servers" in [d for e, d in log if e == "response.send_message"][-1]["content"]
    await cog.handle_ask(FakeInteraction(log, FakeChannel(log, FakeGuild())), "x" * 2001)
    assert "limit is 2,000" in [d for e, d in log if e == "response.send_message"][-1]["content"]
    assert "answer" not in log.events() and "defer" not in log.events()


async def test_an_error_gives_an_error_id_and_the_bot_goes_on(make_client, channel, log, caplog):
    client = await make_client()
    client.service.fail = 2  # the next two questions raise inside Newsbot.answer
    cog = client.get_cog("Ask")
    with caplog.at_level(logging.ERROR, logger="newsbot.discord"):
        await cog.handle_ask(FakeInteraction(log, channel), Q1)
        await cog.handle_message(FakeMessage(log, channel, f"<@{BOT_ID}> {Q1}", mentions=[client.user]))
    texts = answer_texts(log)
    ids = [re.search(r"error id `([0-9a-f]{8})`", t).group(1) for t in texts]
    assert len(ids) == 2 and ids[0] != ids[1]
    for error_id in ids:  # each logged with its traceback under the same id
        (record,) = [r for r in caplog.records if error_id in r.getMessage()]
        assert record.exc_info and record.exc_info[0] is RuntimeError
    await cog.handle_ask(FakeInteraction(log, channel), Q1)  # the next question is answered
    assert "70%" in answer_texts(log)[-1]


async def test_twenty_concurrent_questions_keep_the_event_loop_responsive(make_client, log):
    client = await make_client()
    cog = client.get_cog("Ask")
    guild = FakeGuild()
    questions = [Q1, "How much antimony did Tajikistan export in 2024?", "Who will develop the tungsten deposit?", FOLLOW_UP]
    interactions = [FakeInteraction(log, FakeChannel(log, guild)) for _ in range(20)]
    stop = asyncio.Event()
    lag = asyncio.create_task(ticker(stop))
    start = time.perf_counter()
    await asyncio.gather(*(cog.handle_ask(i, questions[n % 4]) for n, i in enumerate(interactions)))
    elapsed = time.perf_counter() - start
    stop.set()
    worst = await lag
    sent = [d for e, d in log if e == "followup.send"]
    print(f"\n20 concurrent questions answered in {elapsed * 1000:.0f} ms; worst event-loop lag {worst * 1000:.1f} ms")
    assert len(sent) == 20 and not any("error id" in d["content"] for d in sent)
    assert len([e for e in log.events() if e == "defer"]) == 20
    assert worst < 0.100


# -- streaming (LLM answering, when the service offers on_partial) ------------------------------
class StreamingService:
    """Stands in for an LLM-backed Newsbot: calls ``on_partial`` from the worker thread with the text so far."""

    def __init__(self, settings, store, chunks: int = 30, pause: float = 0.01) -> None:
        self.settings = settings
        self.store = store
        self.chunks = chunks
        self.pause = pause
        self.partial_threads: set[str] = set()

    def answer(self, question, history=(), filters=None, on_partial=None):
        text = ""
        for n in range(self.chunks):
            text += f"word{n} "
            if on_partial is not None:
                self.partial_threads.add(threading.current_thread().name)
                on_partial(text)
            time.sleep(self.pause)
        cite = Citation(1, "doc", "A title", "Reuters", "2025-11-06", "https://example.com/a", "A quoted sentence.")
        return Answer(question, text.strip() + " [1]", False, [cite], "llm", {"total": 12.0})


async def test_llm_answers_stream_into_the_message_then_get_sources_and_buttons(make_client, channel, log, fake_bot):
    service = StreamingService(fake_bot.settings, fake_bot.store)
    client = await make_client(service=service, llm="openai")
    assert client.streams
    await client.get_cog("Ask").handle_ask(FakeInteraction(log, channel), "Anything?")
    edits = [d for e, d in log if e == "edit"]
    assert len(edits) == 2  # one preview (throttled: 30 parts in ~0.3 s), then the final answer in the same message
    preview, final = edits
    assert preview["content"].startswith("word0") and "embeds" not in preview and "view" not in preview
    assert final["content"].endswith("[1]") and final["embeds"][0].title == "Sources" and final["view"] is not None
    assert all(is_quiet(d["allowed_mentions"]) for d in edits)
    assert all(name.startswith("newsbot-answer") for name in service.partial_threads)


async def test_no_streaming_without_an_llm_or_the_keyword(make_client, channel, log, fake_bot):
    client = await make_client(service=StreamingService(fake_bot.settings, fake_bot.store, chunks=3, pause=0))
    assert not client.streams  # llm=none
    client = await make_client(service=fake_bot, llm="openai")  # streams iff Newsbot.answer takes on_partial
    assert client.streams is ("on_partial" in inspect.signature(Newsbot.answer).parameters)


async def test_partial_relay_throttles_to_one_edit_a_second():
    shown: list[str] = []

    async def show(text: str) -> None:
        shown.append(text)

    now = [0.0]
    relay = PartialRelay(asyncio.get_running_loop(), show, interval=1.0, clock=lambda: now[0])

    def stream() -> None:
        for n in range(100):
            now[0] = n * 0.05  # 100 parts over 5 s
            relay(f"text {n}")
            time.sleep(0.001)

    await asyncio.to_thread(stream)
    await relay.close()
    assert 4 <= len(shown) <= 6 and shown[0] == "text 0"
    relay("late")  # after close: ignored
    await asyncio.sleep(0.01)
    assert "late" not in shown


def test_thread_creation_failure_still_answers(make_client, channel, log):
    async def run() -> None:
        client = await make_client()
        channel.fail_threads = True
        await client.get_cog("Ask").handle_ask(FakeInteraction(log, channel), Q1)

    asyncio.run(run())
    assert "70%" in answer_texts(log)[0] and not any("error id" in t for t in answer_texts(log))


def test_client_intents_are_not_privileged_by_default(fake_bot, settings):
    async def run() -> discord.Intents:
        client = ClientForTests(fake_bot, settings, sync_commands=False)
        client.executor.shutdown()
        return client.intents

    intents = asyncio.run(run())
    assert intents.guild_messages and intents.guilds and not intents.message_content and not intents.members
