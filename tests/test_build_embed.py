"""How `index build` embeds: the query path's model, or its bfloat16 twin where a measurement on this machine says
so (index/build_embed.py)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from index.build_embed import PROBE_MIN_CHUNKS, PROBE_TEXTS, VERDICT_FILE, BuildEmbedder, TwinOrQueryPath, Verdict
from index.keyword import KeywordIndex, snapshot_root
from index.onnx_embed import CHECK_SENTENCES, MIN_COSINE
from index.openvino_embed import OpenVinoTwin, TwinUnavailable, openvino_twin
from index.store import ChunkStore
from index.sync import Indexer
from index.text import chunk_lines
from tests.fakes import CountingEmbedder, HashEmbedder


# -- the bfloat16 twin -----------------------------------------------------------------------------------------
class SlowEmbedder(CountingEmbedder):
    """The query path's model, as slow per text as it takes (so a twin can be measured faster)."""

    def __init__(self, seconds_per_text: float = 0.002) -> None:
        super().__init__()
        self.seconds = seconds_per_text

    def embed_documents(self, texts, batch_size: int = 64):
        time.sleep(self.seconds * len(texts))
        return super().embed_documents(texts, batch_size)


class Twin(CountingEmbedder):
    """A stand-in for the bfloat16 twin: instant, and its vectors the query path's own (or bent by ``tilt``)."""

    precision = "bfloat16"

    def __init__(self, tilt: float = 0.0) -> None:
        super().__init__()
        self.tilt = tilt

    def embed_documents(self, texts, batch_size: int = 64):
        vectors = super().embed_documents(texts, batch_size)
        if self.tilt:
            vectors = vectors + self.tilt * np.roll(vectors, 1, axis=1)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors


class Factory:
    """Makes the twin; loading it takes ``load_s`` (OpenVINO's import and compiling the graph, in little)."""

    def __init__(self, twin: HashEmbedder | None = None, error: Exception | None = None, load_s: float = 0.2) -> None:
        self.twin, self.error, self.made, self.load_s = twin, error, 0, load_s

    def __call__(self, embedder):
        self.made += 1
        time.sleep(self.load_s)
        if self.error:
            raise self.error
        return self.twin


CHUNKS = [f"Chunk {i} about tungsten output and the joint venture's share, sentence {i}." for i in range(PROBE_MIN_CHUNKS)]


def test_verdict_uses_bfloat16_only_when_the_chunks_pay_for_loading_the_twin() -> None:
    verdict = Verdict("k", "bfloat16", "", float32_per_s=50, bfloat16_per_s=150, load_s=4.0)
    # 50/s -> 150/s saves 1/75 s a chunk: loading torch for 4 s pays from 300 chunks on.
    assert not verdict.pays_for(299) and verdict.pays_for(301)
    assert not Verdict("k", "float32", "", 50, 150, 4.0).pays_for(10_000)


def test_auto_measures_once_uses_the_twin_and_keeps_the_verdict(tmp_path: Path) -> None:
    messages: list[str] = []
    factory = Factory(Twin())
    chooser = BuildEmbedder(SlowEmbedder(), tmp_path, "auto", messages.append, factory)
    chosen = chooser.for_chunks(CHUNKS)
    assert isinstance(chosen, TwinOrQueryPath) and chosen.twin is factory.twin and chosen.precision == "bfloat16"
    saved = json.loads((tmp_path / VERDICT_FILE).read_text())
    verdict = Verdict(**saved[chooser.key()])
    assert verdict.choice == "bfloat16" and verdict.bfloat16_per_s > verdict.float32_per_s and verdict.cosine >= MIN_COSINE
    assert any("Timing float32 against bfloat16" in m for m in messages)

    # Another build on this machine reads the verdict: no second measurement.
    messages.clear()
    again = BuildEmbedder(SlowEmbedder(), tmp_path, "auto", messages.append, Factory(Twin()))
    assert again.for_chunks(CHUNKS).twin is again.factory.twin
    assert not any("Timing" in m for m in messages) and any("in bfloat16" in m for m in messages)
    # ... and a small build keeps the query path's model rather than load the twin (0.2 s saves 0.002 s a chunk).
    small = BuildEmbedder(SlowEmbedder(), tmp_path, "auto", messages.append, Factory(Twin()))
    assert small.for_chunks(CHUNKS[:5]) is small.embedder and small.factory.made == 0


def test_a_twin_whose_vectors_differ_is_never_used(tmp_path: Path) -> None:
    messages: list[str] = []
    chooser = BuildEmbedder(SlowEmbedder(), tmp_path, "auto", messages.append, Factory(Twin(tilt=0.05)))
    assert chooser.for_chunks(CHUNKS) is chooser.embedder
    verdict = Verdict(**json.loads((tmp_path / VERDICT_FILE).read_text())[chooser.key()])
    assert verdict.choice == "float32" and verdict.cosine < MIN_COSINE
    assert any(m.startswith("warning: bfloat16 vectors differ") for m in messages)
    forced = BuildEmbedder(SlowEmbedder(), tmp_path, "bfloat16", messages.append, Factory(Twin(tilt=0.05)))
    assert forced.for_chunks(CHUNKS[:3]) is forced.embedder, "forcing bfloat16 does not skip the vector check"


def test_no_twin_or_a_slower_twin_keeps_the_query_path(tmp_path: Path) -> None:
    factory = Factory(error=ImportError("No module named 'openvino'"))
    broken = BuildEmbedder(SlowEmbedder(), tmp_path / "a", "auto", None, factory)
    assert broken.for_chunks(CHUNKS) is broken.embedder
    # Nothing was measured, so no verdict is kept: the next build tries again (once OpenVINO is installed, say).
    assert not (tmp_path / "a" / VERDICT_FILE).exists()
    assert broken.for_chunks(CHUNKS) is broken.embedder and factory.made == 2

    class SlowTwin(Twin):
        def embed_documents(self, texts, batch_size: int = 64):
            time.sleep(0.004 * len(texts))
            return super().embed_documents(texts, batch_size)

    slower = BuildEmbedder(SlowEmbedder(), tmp_path / "b", "auto", None, Factory(SlowTwin()))
    assert slower.for_chunks(CHUNKS) is slower.embedder
    assert json.loads((tmp_path / "b" / VERDICT_FILE).read_text())[slower.key()]["choice"] == "float32"


def test_an_embedder_that_serves_no_onnx_export_has_no_twin(tmp_path: Path) -> None:
    chooser = BuildEmbedder(HashEmbedder(), tmp_path, "auto")
    assert chooser.factory is None
    assert chooser.for_chunks(CHUNKS * 4) is chooser.embedder and not (tmp_path / VERDICT_FILE).exists()

    class FellBack(HashEmbedder):
        """An OnnxEmbedder whose export failed: sentence-transformers serves the queries, and there is no graph to compile."""

        backend_embedder = HashEmbedder()

    with pytest.raises(TwinUnavailable, match="not running the ONNX export"):
        openvino_twin(FellBack())
    fell_back = BuildEmbedder(FellBack(), tmp_path / "b", "auto")
    assert fell_back.for_chunks(CHUNKS) is fell_back.embedder


def test_float32_never_loads_the_twin(tmp_path: Path) -> None:
    factory = Factory(Twin())
    chooser = BuildEmbedder(SlowEmbedder(), tmp_path, "float32", None, factory)
    assert chooser.for_chunks(CHUNKS * 4) is chooser.embedder and factory.made == 0
    with pytest.raises(ValueError, match="build precision"):
        BuildEmbedder(SlowEmbedder(), tmp_path, "float16")


def test_the_index_holds_the_twins_vectors_when_it_builds(tmp_path: Path, corpus_dir: Path) -> None:
    query_path, twin = SlowEmbedder(seconds_per_text=0.0), Twin()
    chooser = BuildEmbedder(query_path, tmp_path / "cache", "bfloat16", None, Factory(twin))
    store = ChunkStore(tmp_path / "data")
    report = Indexer(store, query_path, corpus_dir, build_embedder=chooser).sync()
    stored = store.all_chunks()
    assert report.precision == "bfloat16"
    embedded = set(twin.texts)
    assert all(f"{c.meta['title']}.\n{c.text}" in embedded for c in stored), "every chunk went through the twin"
    snap = KeywordIndex.load(snapshot_root(store), store.version())
    assert snap is not None and snap.sentence_vectors is not None
    lines = {line for c in snap.chunks for line in chunk_lines(c.text)}
    assert lines <= embedded, "and so did every sentence of the sentence table"
    # The query path's model embedded only what the vector check compares: a sample of chunks and CHECK_SENTENCES.
    assert not lines.intersection(query_path.texts) and len(query_path.texts) <= PROBE_TEXTS + 2 + len(CHECK_SENTENCES)


def test_a_twin_that_fails_part_way_hands_the_rest_of_the_build_to_the_query_path(tmp_path: Path, corpus_dir: Path) -> None:
    class BreaksAfter(Twin):
        """Embeds ``calls`` batches, then fails as a runtime out of memory would."""

        def __init__(self, calls: int) -> None:
            super().__init__()
            self.left = calls

        def embed_documents(self, texts, batch_size: int = 64):
            if self.left <= 0:
                raise RuntimeError("Exception from src/inference/src/cpp/infer_request.cpp: out of memory")
            self.left -= 1
            return super().embed_documents(texts, batch_size)

    # Its check takes three calls (a warm-up, the sample, the check sentences); the build's own come after.
    for calls, precision in ((4, "mixed"), (3, "float32")):
        messages: list[str] = []
        query_path, twin = SlowEmbedder(seconds_per_text=0.0), BreaksAfter(calls)
        chooser = BuildEmbedder(query_path, tmp_path / f"cache{calls}", "bfloat16", messages.append, Factory(twin))
        store = ChunkStore(tmp_path / f"data{calls}")
        report = Indexer(store, query_path, corpus_dir, build_embedder=chooser).sync()
        assert report.precision == precision and report.chunks_embedded == store.count() > 0
        assert sum(m.startswith("warning: bfloat16 embedding failed (") and "out of memory" in m for m in messages) == 1
        snap = KeywordIndex.load(snapshot_root(store), store.version())
        assert snap is not None and snap.sentence_vectors is not None, "the sentence table was finished by the query path"
        lines = {line for c in snap.chunks for line in chunk_lines(c.text)}
        assert lines <= set(query_path.texts) | set(twin.texts)


# -- the real model ----------------------------------------------------------------------------------------------
@pytest.mark.heavy
def test_the_real_bfloat16_twin_matches_the_onnx_vectors(tmp_path: Path, onnx_cache: Path) -> None:
    from index.onnx_embed import OnnxEmbedder

    onnx = OnnxEmbedder(cache_dir=onnx_cache)
    shutil.copytree(onnx_cache, tmp_path / "onnx")
    try:
        twin = openvino_twin(onnx)
    except TwinUnavailable as exc:  # a CPU without bfloat16 units: the build stays on the query path (tested above)
        pytest.skip(str(exc))
    assert isinstance(twin, OpenVinoTwin) and twin.name == onnx.name and twin.count_tokens("a b") == onnx.count_tokens("a b")
    # Texts of many lengths in many small batches, answered by two requests at once: every row must come back in its place.
    texts = [f"Kazakhstan signs minerals deal {i}.\n" + " ".join(CHECK_SENTENCES[: 1 + i % len(CHECK_SENTENCES)]) for i in range(40)]
    got, want = twin.embed_documents(texts, batch_size=3), onnx.embed_documents(texts)
    assert got.shape == want.shape and float(np.min(np.sum(got * want, axis=1))) >= MIN_COSINE
    assert twin.embed_documents([]).shape == (0, onnx.dim)
    chooser = BuildEmbedder(onnx, tmp_path / "onnx", "bfloat16")
    verdict = chooser._measure(texts, timed=False)
    assert verdict.choice == "bfloat16", verdict.reason
    assert verdict.cosine >= MIN_COSINE
