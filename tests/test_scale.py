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


def _score(bot: Newsbot, path: Path) -> tuple[int, int, list[str]]:
    results = list(run_eval(read_rows(path), bot.answer))
    failures = [f"{r.row.id}: {r.why}: {r.answer.answer[:120]}" for r in results if not r.passed]
    return sum(r.passed for r in results), len(results), failures


@pytest.mark.skipif(not GOLDEN.exists(), reason="../shared/eval/golden.jsonl is not beside this clone")
def test_golden_holds_among_300_articles(scale_bot: Newsbot) -> None:
    passed, total, failures = _score(scale_bot, GOLDEN)
    assert passed >= total - 1, failures


def test_answers_cite_only_the_real_articles_for_real_questions(scale_bot: Newsbot) -> None:
    answer = scale_bot.answer("How much funding did the U.S. Export-Import Bank express interest in providing?")
    assert not answer.refused and "900 million" in answer.answer
    assert all(not c.doc_id.startswith("synthetic-") for c in answer.citations), answer.citations
