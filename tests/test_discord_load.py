"""Many questions at once from two servers: every one answered, and the event loop stays responsive.

This test runs on the small fakes of ``tests/discord_fakes.py``, because simcord runs one actor at a time
(each action settles before the next), so it cannot put 40 questions in flight together. The fakes stand in
only for the interaction objects /ask touches; the bot (its real ``/ask`` handler, worker pool, thread
opening and answer store) and the answering pipeline (fake embedder) are real.
"""

from __future__ import annotations

import gc

from bot.discordbot.render import REFUSAL_HINT
from tests.discord_fakes import Channel, ask_at_once
from tests.discord_world import FOLLOW_UP, Q1, make_client


async def test_forty_concurrent_questions_from_two_servers_keep_the_event_loop_responsive(indexed_corpus, tmp_path):
    client = make_client(indexed_corpus, tmp_path)
    client.sync_commands_on_start = False  # not logged in: no Discord to sync with
    await client.setup_hook()  # cogs, persistent view, warm-up
    channels = [Channel(), Channel()]  # two servers
    questions = [Q1, "How much antimony did Tajikistan export in 2024?", "Who will develop the tungsten deposit?", FOLLOW_UP]
    try:
        rush = await ask_at_once(client.get_cog("Ask"), [(channels[n % 2], questions[n % 4]) for n in range(40)])
    finally:
        client.executor.shutdown(wait=True)

    slowest_ack = max(i.deferred_at - rush.started for i in rush.interactions)
    print(
        f"\n40 concurrent questions answered in {rush.wall * 1000:.0f} ms; slowest acknowledgement "
        f"{slowest_ack * 1000:.0f} ms; worst event-loop lag {rush.worst_lag * 1000:.1f} ms"
    )
    for n, interaction in enumerate(rush.interactions):  # each answered once, with its own question
        assert len(interaction.sent) == 1 and interaction.sent[0].startswith(f"> {questions[n % 4]}\n")
        assert "error id" not in interaction.sent[0]
    assert all("70%" in i.sent[0] for i in rush.interactions[::4])
    answered = [i for i in rush.interactions if REFUSAL_HINT not in i.sent[0]]
    assert len(answered) >= 20 and sum(len(c.threads) for c in channels) == len(answered)  # refusals open none
    # Answers are worked out in the worker pool; answered on the loop, the lag would be their sum (~0.5 s).
    assert rush.worst_lag < 0.25


async def started_offline(indexed_corpus, tmp_path):
    """The bot through its setup_hook (cogs, warm-up) without logging in, its answer workers shut down after."""
    client = make_client(indexed_corpus, tmp_path)
    client.sync_commands_on_start = False
    try:
        await client.setup_hook()
    finally:
        client.executor.shutdown(wait=True)
    return client


async def test_warm_up_reads_the_answer_steps_lazy_tables_before_going_online(indexed_corpus, tmp_path, monkeypatch):
    """pycountry's table is read on the first "who" question (0.27 s holding the GIL): the warm-up reads it instead."""
    from bot.answering import spans

    monkeypatch.setattr(spans, "_COUNTRIES", None)
    await started_offline(indexed_corpus, tmp_path)
    assert spans._COUNTRIES is not None and "kazakhstan" in spans._COUNTRIES


async def test_what_the_bot_loaded_before_going_online_is_left_out_of_garbage_collections(indexed_corpus, tmp_path):
    """A full collection walks every object the index and the answer step hold (0.28 s with the GIL held, in this
    test process); it stalled the event loop once in a rush of questions. After its warm-up the bot freezes them."""
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    client = await started_offline(indexed_corpus, tmp_path)
    frozen = gc.get_freeze_count()
    assert frozen > 10_000, frozen  # the keyword index, the vocabulary, the loaded modules ...
    # An index loaded later (after /add, another process's build) is frozen as it is loaded.
    retriever = client.service.retriever
    gc.unfreeze()
    retriever.invalidate()
    retriever.refresh()
    assert retriever.freeze_after_load and gc.get_freeze_count() > 10_000
