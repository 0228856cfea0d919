"""An LLM's answer streaming into Discord: the message shows the checked text so far, then the final answer.

The bot's service talks to a scripted OpenAI-compatible server on 127.0.0.1 (``FakeOpenAI`` from
``tests/test_llm.py``), through the real LLM path: streaming, the grounding check, renumbering. The
partial text reaches Discord through edits that the worker thread schedules on the event loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time

import pytest

from bot.discordbot.client import PartialRelay
from bot.discordbot.render import MESSAGE_LIMIT
from index.text import split_sentences
from tests.discord_world import Q1, World, make_client
from tests.test_llm import FakeOpenAI, Reply, source_with, sources_of


@pytest.fixture
def server():
    fake = FakeOpenAI()
    yield fake
    fake.close()


@pytest.fixture
def bot_settings(server: FakeOpenAI) -> dict:
    return {
        "llm": "openai",
        "llm_base_url": server.base_url,
        "llm_model": "scripted-model",
        "llm_api_key": "test-key",
        "llm_timeout": 5.0,
    }


def stake_reply(request: dict) -> str:
    n = source_with(request, "70% of a joint venture")
    return (
        f"Cove Capital will control 70% of a joint venture and sales of the metal [{n}]. "
        f"Tau-Ken Samruk will control the remaining 30% [{n}]."
    )


async def test_an_llm_answer_streams_into_the_message_then_gets_its_sources(world: World, server: FakeOpenAI):
    assert world.client.streams
    server.then(Reply(stake_reply))

    result = await world.alice.slash(world.news, "ask", question=Q1)

    edits = [r.json for r in world.requests("PATCH", "/messages/@original")]
    assert len(edits) == 2, edits  # the text so far, then the final answer, in the same message
    preview, final = edits
    assert preview["content"].startswith("Cove Capital will control 70% of a joint venture and sales of the metal [1].")
    assert "Tau-Ken" not in preview["content"] and not preview.get("embeds") and not preview.get("components")
    assert "Tau-Ken Samruk will control the remaining 30% [1]." in final["content"] and final["components"]
    shown = result.response
    assert shown.content == final["content"] and shown.embeds[0].footer.text.startswith("llm answer")
    assert not result.followups and server.requests[-1]["stream"] is True


def long_reply(request: dict) -> str:
    """A long answer a model might write: the sources' sentences, each cited, until it passes 2,400 characters.

    The retrieved sources may hold fewer characters than that, so a model that restates them is what runs long.
    """
    cited = [
        f"{sentence.strip()} [{n}]"
        for n, text in sources_of(request).items()
        for paragraph in text.split("\n")
        for sentence in split_sentences(paragraph)  # the bot's own splitter: "U.S." and "Nov. 6" end no sentence
        if len(sentence.split()) >= 8 and '"' not in sentence
    ]
    out: list[str] = []
    while cited and sum(len(x) + 1 for x in out) <= 2 * MESSAGE_LIMIT * 0.6:
        out.append(cited[len(out) % len(cited)])
    return " ".join(out)


async def test_a_long_answer_is_split_within_discords_limits(world: World, server: FakeOpenAI):
    # The default answer quotes a sentence or two; a model's answer can run to NEWSBOT_LLM_MAX_CHARS.
    server.then(Reply(long_reply))

    # A question the answer model takes up clearly (the refusal decision comes before any model call).
    result = await world.alice.slash(world.news, "ask", question="What deals were signed at the C5+1 summit in Washington?")

    first, *rest = [result.response, *result.followups]
    assert rest, f"the answer should need more than one message: {len(first.content)} {first.embeds[0].footer.text}"
    parts = [first, *rest]
    assert all(len(p.content) <= MESSAGE_LIMIT for p in parts)
    assert all(re.search(r"[.!?]\s*\[\d+\]$", p.content) for p in parts)  # cut after a sentence and its marker
    assert sum(len(p.content) for p in parts) > MESSAGE_LIMIT
    assert [bool(p.embeds) for p in parts] == [False] * len(rest) + [True]  # the sources under the last part
    assert [bool(p.components) for p in parts] == [False] * len(rest) + [True]  # and the buttons
    assert parts[-1].embeds[0].footer.text.startswith("llm answer")


async def test_partial_relay_throttles_to_one_edit_a_second_and_stops_at_close():
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
    assert 4 <= len(shown) <= 6 and shown[0] == "text 0" and relay.edits == len(shown)
    relay("late")  # after close: ignored
    await asyncio.sleep(0.01)
    assert "late" not in shown


REQUEST = contextvars.ContextVar("request", default="none")


async def test_work_in_the_answer_pool_runs_in_the_callers_context(indexed_corpus, tmp_path):
    client = make_client(indexed_corpus, tmp_path)
    REQUEST.set("handler's")
    try:
        assert await client.run_blocking(REQUEST.get) == "handler's"  # as asyncio.to_thread would
    finally:
        client.executor.shutdown(wait=False)
