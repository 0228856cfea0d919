"""Chroma server mode for real: `chroma run` + HttpClient, and two processes at once on one index.

The server is CI's (NEWSBOT_TEST_CHROMA_URL, started by .ci/run) or one the
`chroma_url` fixture starts; each test uses a collection of its own.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from bot.service import Newsbot
from bot.settings import Settings
from index.load import corpus_files, doc_id_for
from index.store import ChunkStore
from index.sync import Indexer
from tests.chroma_server import collection_name
from tests.fakes import HashEmbedder
from tests.scale_helpers import NEWSBOT, ROOT, assert_in_line, cli_env, expected_chunk_ids, make_corpus

pytestmark = pytest.mark.server

QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "eval" / "newsbot.jsonl").read_text().splitlines() if line.strip()]
ANSWER_KEYS = {"question", "answer", "refused", "citations", "mode", "timings_ms"}
CITATION_KEYS = {"n", "doc_id", "title", "source", "published", "url", "quote"}


def assert_well_formed(row: dict, doc_ids: set[str]) -> None:
    """The `ask --json` contract: every key, [n] markers that match citations, citations of real articles."""
    assert set(row) >= ANSWER_KEYS, row
    assert isinstance(row["answer"], str) and row["answer"].strip()
    assert isinstance(row["refused"], bool)
    assert row["timings_ms"]["total"] >= 0
    if row["refused"]:
        assert row["citations"] == []
        return
    assert row["citations"], row
    numbers = {c["n"] for c in row["citations"]}
    assert {int(n) for n in re.findall(r"\[(\d+)\]", row["answer"])} == numbers
    for c in row["citations"]:
        assert set(c) >= CITATION_KEYS and c["doc_id"] in doc_ids and c["quote"].strip()


def test_server_mode_syncs_and_answers(tmp_path: Path, corpus_dir: Path, chroma_url: str) -> None:
    settings = Settings(
        corpus_dir=corpus_dir,
        data_dir=tmp_path / "data",
        chroma_url=chroma_url,
        chroma_collection=collection_name(),
        _env_file=None,
    )
    embedder = HashEmbedder()
    bot = Newsbot(settings, embedder=embedder, notify=lambda msg: None)
    assert bot.store.location == chroma_url
    assert not (tmp_path / "data" / "chroma").exists(), "server mode must not open an embedded store"
    answer = bot.answer("How much tungsten will the Severnyi Katpar joint venture produce per year?")
    assert not answer.refused and "12,000" in answer.answer
    assert bot.sync().chunks_embedded == 0
    assert_in_line(bot.store, expected_chunk_ids(corpus_dir, embedder))

    # A second process's view (here: a second client) sees a change without restarting.
    other = Newsbot(settings, embedder=embedder, notify=lambda msg: None, auto_build=False)
    victim = corpus_files(corpus_dir)[0]
    victim.unlink()
    bot.sync()
    other.retriever.invalidate()
    assert doc_id_for(victim) not in other.documents()


@pytest.mark.heavy
def test_index_build_in_one_process_while_another_answers(tmp_path: Path, chroma_url: str, real_embedder) -> None:
    """`index build` (process A) of 120 new articles while `ask --json --file -` (process B) answers all along."""
    corpus = make_corpus(tmp_path / "corpus", 0)
    coll = collection_name("concurrent")
    env = cli_env(corpus, tmp_path / "data", chroma_url, coll)
    Indexer(ChunkStore(tmp_path / "seed", chroma_url, coll), real_embedder, corpus).sync()  # the two real articles first
    make_corpus(corpus, 120, seed=11)

    asker = subprocess.Popen(
        [NEWSBOT, "ask", "--json", "--file", "-"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert asker.stdin is not None and asker.stdout is not None
    rows: list[dict] = []
    during_build: list[bool] = []
    builder: subprocess.Popen | None = None

    def ask(question: str) -> dict:
        asker.stdin.write(question + "\n")
        asker.stdin.flush()
        line = asker.stdout.readline()
        assert line, f"the asking process died: {asker.stderr.read()[-2000:] if asker.poll() is not None else ''}"
        return json.loads(line)

    try:
        rows.append(ask(QUESTIONS[0]))  # the model is loaded; now start the build
        builder = subprocess.Popen(
            [NEWSBOT, "index", "build", "--json"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        outcome: dict = {}
        waiter = threading.Thread(
            target=lambda: outcome.update(zip(("out", "err"), builder.communicate(timeout=600), strict=True))
        )
        waiter.start()
        i = 1
        deadline = time.monotonic() + 600
        while (waiter.is_alive() or i < 30) and time.monotonic() < deadline:
            during_build.append(waiter.is_alive())
            rows.append(ask(QUESTIONS[i % len(QUESTIONS)]))
            i += 1
        waiter.join()
        assert builder.returncode == 0, outcome.get("err", "")[-2000:]
        report = json.loads(outcome["out"].strip().splitlines()[-1])
        assert report["added"] == 120 and report["chunks_embedded"] > 0
    finally:
        asker.stdin.close()
        asker.wait(60)
        if builder and builder.poll() is None:
            builder.kill()

    assert asker.returncode == 0
    assert sum(during_build) >= 3, "too few answers overlapped the build to prove anything"
    doc_ids = {doc_id_for(p) for p in corpus_files(corpus)}
    for row in rows:
        assert_well_formed(row, doc_ids)
    assert_in_line(ChunkStore(tmp_path / "probe", chroma_url, coll), expected_chunk_ids(corpus, real_embedder))
