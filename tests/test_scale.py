"""Quality at scale: 298 synthetic hard negatives beside the two real articles (the bench runs 2,000).

The generated articles share the real ones' vocabulary (joint ventures, memoranda,
metric tons, export-import banks) about other countries, so they compete for every
golden question; the answers and refusals must hold anyway.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.evaluate import read_rows, run_eval
from bot.service import Newsbot
from bot.settings import Settings
from tests.conftest import GOLDEN
from tests.scale_helpers import make_corpus

pytestmark = pytest.mark.heavy

N_GENERATED = 298


@pytest.fixture(scope="module")
def scale_bot(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Newsbot:
    base = tmp_path_factory.mktemp("scale")
    corpus = make_corpus(base / "corpus", N_GENERATED)
    settings = Settings(corpus_dir=corpus, data_dir=base / "data", chroma_url=None, _env_file=None)
    bot = Newsbot(settings, embedder=real_embedder, notify=lambda msg: None)
    assert len(bot.documents()) == N_GENERATED + 2
    return bot


@pytest.mark.skipif(not GOLDEN.exists(), reason="../shared/eval/golden.jsonl is not beside this clone")
def test_golden_holds_among_300_articles(scale_bot: Newsbot, real_bot: Newsbot) -> None:
    """What the two real articles answer alone still holds among 298 distractors (two rows may be lost: the
    generated articles change every word's idf, and g09's "the joint venture's planned output" then reads like
    every generated venture's), and at most that one golden question, g09, is answered from a generated article
    (the README's "What it costs"). The absolute golden floor is test_quality's."""
    alone = {r.row.id: r.passed for r in run_eval(read_rows(GOLDEN), real_bot.answer)}
    among = list(run_eval(read_rows(GOLDEN), scale_bot.answer))
    lost = [f"{r.row.id}: {r.why}: {r.answer.answer[:120]}" for r in among if alone[r.row.id] and not r.passed]
    assert len(lost) <= 2, lost
    generated = [r.row.id for r in among if any(c.doc_id.startswith("synthetic-") for c in r.answer.citations)]
    assert set(generated) <= {"g09"}, generated


def test_answers_cite_only_the_real_articles_for_real_questions(scale_bot: Newsbot) -> None:
    answer = scale_bot.answer("How much funding did the U.S. Export-Import Bank express interest in providing?")
    assert not answer.refused and "900 million" in answer.answer
    assert all(not c.doc_id.startswith("synthetic-") for c in answer.citations), answer.citations


async def test_fifty_questions_at_once_through_the_discord_handlers(scale_bot: Newsbot, tmp_path: Path, record_property) -> None:
    """50 /ask at once through the bot's own handler (fake interactions, real model, real 300-article index).

    All are answered, none lost; the p95 wait and the event loop's worst lag are reported
    (printed, and as junit properties), not asserted against a clock.
    """
    import json

    from bot.discordbot.client import NewsbotClient
    from bot.discordbot.feedback_store import FeedbackStore
    from tests.discord_fakes import Channel, ask_at_once

    rows = [json.loads(line) for line in GOLDEN.read_text().splitlines()] if GOLDEN.exists() else []
    qs = [r["question"] for r in rows] or ["How much tungsten will the Severnyi Katpar joint venture produce per year?"]
    batch = [qs[i % len(qs)] for i in range(50)]
    settings = scale_bot.settings.model_copy(update={"cooldown_seconds": 0.0})
    client = NewsbotClient(scale_bot, settings, FeedbackStore(tmp_path / "fb.sqlite3"), sync_commands=False)
    await client.setup_hook()
    try:
        rush = await ask_at_once(client.get_cog("Ask"), [(Channel(), q) for q in batch])
    finally:
        client.executor.shutdown(wait=True)

    for interaction, question in zip(rush.interactions, batch, strict=True):  # none lost, none answered twice
        assert len(interaction.sent) == 1 and interaction.sent[0].startswith(f"> {question}\n")
        assert "error id" not in interaction.sent[0]
    assert all(i.deferred_at is not None for i in rush.interactions)
    p95 = sorted(rush.waits)[int(0.95 * (len(rush.waits) - 1))]
    record_property("load_p95_s", round(p95, 3))
    record_property("load_worst_loop_lag_ms", round(rush.worst_lag * 1000, 1))
    print(f"\n50 questions at once via /ask: wall {rush.wall:.2f} s, p95 {p95:.2f} s, worst event-loop lag {rush.worst_lag * 1000:.1f} ms")
