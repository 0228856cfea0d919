"""`newsbot serve`, `newsbot chat` and `newsbot feedback` through the real CLI (typer's runner); nothing contacts Discord."""

from __future__ import annotations

import base64

import discord
import pytest
from typer.testing import CliRunner

from bot import cli
from bot.discordbot import client as discord_client
from bot.discordbot.client import TokenError, check_token
from bot.discordbot.feedback_store import FeedbackStore
from bot.types import Answer

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


def test_token_shape():
    assert check_token(f"  {FAKE_TOKEN}\n") == FAKE_TOKEN
    with pytest.raises(TokenError):
        check_token("x" * 24 + ".abcdef." + "y" * 27)  # first part is not a base64 user id


def test_chat_answers_a_question_and_a_follow_up(env, fake_bot):
    result = run("chat", stdin="What share of the tungsten joint venture will Cove Capital control?\nAnd who holds the rest?\n")
    assert result.exit_code == 0, result.output
    first, second = result.stdout.split("Q: ")[1:]
    assert "70%" in first and "[1] Kazakhstan President Tokayev signs minerals deal in Washington (Reuters, 2025-11-06)" in first
    assert second.startswith("And who holds the rest?")
    assert "Tau-Ken Samruk controlling the remaining 30%" in second
    assert "remaining 30%" not in fake_bot.answer("And who holds the rest?").answer  # the history made the difference


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
