"""`newsbot serve`, `newsbot chat` and `newsbot feedback` through the real CLI (typer's runner); nothing contacts Discord.

`newsbot serve` runs all of its start-up under simcord: the CLI, the token check, loading the service, the
client, ``setup_hook`` (cogs, persistent views, warm-up), the slash-command sync and the ready line. Only
``NewsbotClient.start`` (discord.py's login and gateway connection) is swapped for simcord's in-memory Discord.
"""

from __future__ import annotations

import base64
import logging

import discord
import pytest
import simcord
from typer.testing import CliRunner

from bot import cli
from bot.conversation import Conversation
from bot.discordbot import client as discord_client
from bot.discordbot.client import NewsbotClient, TokenError, check_token
from bot.discordbot.feedback_store import FeedbackStore
from bot.types import REFUSAL, Answer, Citation, Turn
from tests.discord_world import FOLLOW_UP, Q1, REST, indexed_service, make_client

# Shaped like a bot token (id.timestamp.hmac) but not one.
FAKE_TOKEN = base64.urlsafe_b64encode(b"123456789012345678").decode().rstrip("=") + ".GaBcDe." + "x" * 38


@pytest.fixture
def env(monkeypatch, tmp_path, fake_bot):
    """No .env, no token; the fake-embedder bot behind the CLI."""
    monkeypatch.chdir(tmp_path)
    for name in ("DISCORD_TOKEN", "NEWSBOT_DISCORD_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(fake_bot.settings.data_dir))
    monkeypatch.setattr(cli, "_bot", lambda auto_build=True: fake_bot)
    return monkeypatch


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(cli.app, list(args), input=stdin)


def test_serve_without_a_token_is_one_line_and_exit_2(env):
    env.setattr(cli, "_bot", lambda auto_build=True: pytest.fail("the model must not load without a token"))
    result = run("serve")
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "error: DISCORD_TOKEN is not set" in result.output


@pytest.mark.parametrize("token", ["not-a-token", "Bot " + FAKE_TOKEN, "abc.def.ghi", "a" * 70])
def test_serve_with_a_malformed_token_is_one_line_and_exit_2(env, token):
    env.setenv("DISCORD_TOKEN", token)
    result = run("serve")
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and result.output.startswith("error: DISCORD_TOKEN")


def test_serve_with_a_rejected_token_is_one_line_and_exit_2(env):
    async def rejected(self, token, *, reconnect=True):
        raise discord.LoginFailure("Improper token has been passed.")

    env.setattr(discord_client.NewsbotClient, "start", rejected)  # what discord.py raises on HTTP 401
    env.setenv("DISCORD_TOKEN", FAKE_TOKEN)
    result = run("serve")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert lines == [
        "error: Discord rejected DISCORD_TOKEN: reset the token in the Developer Portal (Bot, Reset Token) and set it again"
    ]


GUILD_ID = 1_300_000_000_000_000_000


def in_simcord(approved_intents: discord.Intents | None = None, seen: dict | None = None):
    """A stand-in for ``NewsbotClient.start``: connect to simcord's Discord, where a member runs /ask, then stop."""

    async def start(self: NewsbotClient, token: str, *, reconnect: bool = True) -> None:
        env = simcord.Env(self, approved_intents=approved_intents)  # strict_sync: unsynced commands fail
        guild = env.create_guild("Newsroom", id=GUILD_ID)  # the server NEWSBOT_DEV_GUILD_ID names
        news = guild.create_text_channel("news")
        alice = guild.add_member(env.create_user("alice"))
        await env.start()  # login, setup_hook (cogs, views, warm-up, command sync), READY
        try:
            with env.time_context():
                if seen is not None:
                    seen["commands"] = alice.available_commands(news)
                    seen["ask"] = (await alice.slash(news, "ask", question=Q1)).response.content
        finally:
            await env.shutdown()

    return start


@pytest.fixture
def served(env, indexed_corpus, tmp_path):
    """`newsbot serve` with a token of the right shape, the service over a copy of the indexed corpus."""
    service = make_client(indexed_corpus, tmp_path / "bot").service
    env.setattr(cli, "_bot", lambda auto_build=True: service)
    env.setenv("DISCORD_TOKEN", FAKE_TOKEN)
    env.setenv("NEWSBOT_DEV_GUILD_ID", str(GUILD_ID))
    return env


def test_serve_starts_syncs_to_the_dev_guild_and_answers(served, caplog):
    seen: dict = {}
    served.setattr(NewsbotClient, "start", in_simcord(seen=seen))
    with caplog.at_level(logging.INFO, logger="newsbot.discord"):
        result = run("serve")
    assert result.exit_code == 0, result.output
    (ready,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("newsbot ready")]
    assert ready.startswith("newsbot ready as TestBot")
    assert f"in 1 servers; 5 commands synced to guild {GUILD_ID}; " in ready and ready.endswith(" chunks indexed")
    assert set(seen["commands"]) == {"ask", "sources", "help"}  # /add and /reindex need Manage Server
    assert "70%" in seen["ask"]


def test_serve_syncs_globally_without_a_dev_guild(served, caplog):
    served.delenv("NEWSBOT_DEV_GUILD_ID")
    seen: dict = {}
    served.setattr(NewsbotClient, "start", in_simcord(seen=seen))
    with caplog.at_level(logging.INFO, logger="newsbot.discord"):
        result = run("serve")
    assert result.exit_code == 0, result.output
    assert any("5 commands synced globally" in r.getMessage() for r in caplog.records)
    assert "70%" in seen["ask"]


def test_serve_asking_for_an_intent_the_portal_has_not_enabled_is_one_line_and_exit_2(served):
    served.setenv("NEWSBOT_MESSAGE_CONTENT", "true")
    served.setattr(NewsbotClient, "start", in_simcord(approved_intents=discord.Intents.default()))
    result = run("serve")
    assert result.exit_code == 2
    assert [line for line in result.output.splitlines() if line.startswith("error:")] == [
        "error: NEWSBOT_MESSAGE_CONTENT=true needs the Message Content intent: enable it in the Developer Portal "
        "(Bot, Privileged Gateway Intents) or unset the setting"
    ]


def test_token_shape():
    assert check_token(f"  {FAKE_TOKEN}\n") == FAKE_TOKEN
    with pytest.raises(TokenError):
        check_token("x" * 24 + ".abcdef." + "y" * 27)  # first part is not a base64 user id


@pytest.mark.heavy
def test_chat_answers_a_question_and_a_follow_up(env, indexed_corpus, tmp_path):
    """On the real model: the answer model is fitted on its vectors (with the hashing embedder this follow-up sat at
    the answer threshold, so any refit could flip the test)."""
    real = indexed_service(indexed_corpus, tmp_path / "real")
    env.setattr(cli, "_bot", lambda auto_build=True: real)
    result = run("chat", stdin=f"{Q1}\n{FOLLOW_UP}\n")
    assert result.exit_code == 0, result.output
    first, second = result.stdout.split("Q: ")[1:]
    assert "70%" in first and "[1] Kazakhstan President Tokayev signs minerals deal in Washington (Reuters, 2025-11-06)" in first
    assert second.startswith(FOLLOW_UP)
    assert REST in second
    assert REST not in real.answer(FOLLOW_UP).answer  # the history made the difference


def test_a_conversation_remembers_the_articles_each_answer_quoted():
    chat = Conversation()
    cites = [Citation(n, doc, "T", "S", "", "", "q") for n, doc in enumerate(["kz", "sp", "kz"], start=1)]
    chat.add(Answer("q1", "a [1] [2] [3]", False, cites))
    chat.add(Answer("q2", REFUSAL, True))  # a refusal holds nothing to follow up on
    assert chat.history == [Turn("q1", "a [1] [2] [3]", ("kz", "sp"))]


def test_chat_new_starts_over_and_bad_questions_do_not_end_it(env):
    result = run(
        "chat",
        stdin="What share of the tungsten joint venture will Cove Capital control?\n/new\n"
        + "x" * 2001
        + "\nAnd who holds the rest?\n",
    )
    assert result.exit_code == 0
    assert "New conversation." in result.stdout and "limit is 2,000" in result.output
    assert "remaining 30%" not in result.stdout.split("Q: ")[-1]


def test_feedback_prints_the_tally_and_voted_down_questions(env, fake_bot):
    store = FeedbackStore.in_data_dir(fake_bot.settings.data_dir)
    good = store.record_answer(Answer("Good question?", "Yes. [1]", False), [1], 1, 2)
    bad = store.record_answer(Answer("Which gold mines?", "Something wrong. [1]", False), [2], 1, 2)
    store.vote(good, 11, "up")
    store.vote(bad, 11, "down")
    store.vote(bad, 12, "down")
    result = run("feedback")
    assert result.exit_code == 0
    assert "2 answers posted; votes: 👍 1  👎 2" in result.stdout
    assert "👎 2 👍 0  Which gold mines?" in result.stdout and "Good question?" not in result.stdout
