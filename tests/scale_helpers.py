"""Helpers for the scale, server, fault and writer tests: corpora, the chunk ids a corpus should yield, CLI runs,
the store a build alone makes and the comparison with it.

Also runnable as a script for the SIGKILL test: ``python -m tests.scale_helpers CORPUS DATA``
builds the index with the hashing embedder, printing ``batch N`` after each stored batch.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bench.generate import generate
from index.embed import Embedder
from index.load import ArticleError, corpus_files, load_article
from index.store import ChunkStore
from index.sync import Indexer, chunks_for
from tests.fakes import HashEmbedder

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
NEWSBOT = str(Path(sys.executable).with_name("newsbot"))


def make_corpus(target: Path, n_generated: int, seed: int = 7) -> Path:
    """The two real articles plus ``n_generated`` synthetic hard negatives in ``target``."""
    shutil.copytree(CORPUS, target, dirs_exist_ok=True)
    if n_generated:
        generate(target / "generated", n_generated, seed)
    return target


def expected_chunk_ids(corpus_dir: Path, embedder: Embedder, chunk_tokens: int = 128) -> set[str]:
    """Every chunk id the corpus yields now: what an in-line store must hold, no more, no less."""
    ids: set[str] = set()
    for path in corpus_files(corpus_dir):
        try:
            article = load_article(path)
        except ArticleError:
            continue
        ids.update(c.id for c in chunks_for(article, embedder, chunk_tokens))
    return ids


def stored_ids(store: ChunkStore) -> list[str]:
    return list(store.all_metadata())


def assert_in_line(store: ChunkStore, expected: set[str]) -> None:
    ids = stored_ids(store)
    dupes = [i for i, n in Counter(ids).items() if n > 1]
    assert not dupes, f"duplicate chunk ids in the store: {dupes[:5]}"
    missing, extra = expected - set(ids), set(ids) - expected
    assert not missing and not extra, (
        f"{len(missing)} chunks missing (e.g. {sorted(missing)[:3]}), {len(extra)} extra (e.g. {sorted(extra)[:3]})"
    )
    assert store.count() == len(expected)


def cli_env(corpus: Path, data: Path, chroma_url: str | None = None, collection: str | None = None) -> dict[str, str]:
    # (NEWSBOT_ONNX_DIR and NEWSBOT_BUILD_PRECISION stay: the session's one ONNX export, and builds in float32; see
    # conftest.onnx_cache)
    kept = ("NEWSBOT_ONNX_DIR", "NEWSBOT_BUILD_PRECISION")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_") or k in kept}
    env.update(NEWSBOT_CORPUS_DIR=str(corpus), NEWSBOT_DATA_DIR=str(data), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    if chroma_url:
        env["NEWSBOT_CHROMA_URL"] = chroma_url
    if collection:
        env["NEWSBOT_CHROMA_COLLECTION"] = collection
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    proc = subprocess.run([NEWSBOT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - start


# -- the real CLI in another process, with the hashing embedder (tests/fake_cli.py) ---------------------
REPORT = re.compile(r"added (\d+), updated (\d+), deleted (\d+), unchanged (\d+); (\d+) chunks embedded")


def fake_cli(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.fake_cli", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def start_fake_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fake_cli", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def report_of(stdout: str) -> tuple[int, ...]:
    match = REPORT.search(stdout)
    assert match, stdout
    return tuple(int(n) for n in match.groups())


def fresh_build(corpus: Path, data: Path) -> ChunkStore:
    """The store one build alone makes of ``corpus``: what any sequence of writers must end with."""
    store = ChunkStore(data)
    Indexer(store, HashEmbedder(), corpus).sync()
    return store


def assert_same_store(store: ChunkStore, fresh: ChunkStore) -> None:
    """Same chunk ids, texts and metadata, and every chunk's vector present and equal."""
    got = {c.id: (c.text, c.meta) for c in store.all_chunks()}
    want = {c.id: (c.text, c.meta) for c in fresh.all_chunks()}
    assert got.keys() == want.keys(), f"{len(got.keys() - want.keys())} extra, {len(want.keys() - got.keys())} missing"
    assert got == want
    ids = sorted(want)
    vectors, expected = store.embeddings(ids), fresh.embeddings(ids)
    assert len(vectors) == len(ids), "stored chunks without a vector"
    assert all(np.allclose(vectors[i], expected[i], atol=1e-6) for i in ids)


HOLD_LOCK = """
import sys, time
from pathlib import Path
from index.writelock import WriteLock
with WriteLock(Path(sys.argv[1])).hold():
    print("held", flush=True)
    time.sleep(120)
"""


def hold_lock(data: Path) -> subprocess.Popen:
    """Another process holding the writer lock of ``data`` until it is killed."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(data)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def _build_with_hash_embedder(corpus: Path, data: Path) -> None:
    class SlowHashEmbedder(HashEmbedder):
        def embed_documents(self, texts, batch_size=64):
            time.sleep(0.05)  # leave the killer time to strike between and during writes
            return super().embed_documents(texts, batch_size)

    done = [0]

    def progress(total: int):
        def tick(n: int) -> None:
            done[0] += 1
            print(f"batch {done[0]}", flush=True)

        return tick

    store = ChunkStore(data)
    Indexer(store, SlowHashEmbedder(), corpus, progress=progress).sync()
    print("done", flush=True)


if __name__ == "__main__":
    _build_with_hash_embedder(Path(sys.argv[1]), Path(sys.argv[2]))
