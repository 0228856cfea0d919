"""The keyword index on disk (index/keyword.py): saved by `index build`, loaded by readers, rebuilt when unusable."""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import index.keyword as keyword
from index.keyword import KeywordIndex, snapshot_root
from index.search import Retriever
from index.store import ChunkStore
from index.sync import Indexer
from index.text import chunk_lines, terms
from tests.fakes import CountingEmbedder, HashEmbedder

QUESTION = "How much tungsten will the Severnyi Katpar joint venture produce per year?"


class CountingStore(ChunkStore):
    """The real embedded store, counting full reads (the expensive path a snapshot exists to avoid)."""

    full_reads = 0

    def all_chunks(self):
        CountingStore.full_reads += 1
        return super().all_chunks()


@pytest.fixture
def built(tmp_path: Path, corpus_dir: Path) -> ChunkStore:
    store = ChunkStore(tmp_path / "data")
    Indexer(store, HashEmbedder(), corpus_dir).sync()
    return store


def test_index_build_saves_a_snapshot_equal_to_a_fresh_build_from_the_store(built: ChunkStore) -> None:
    version = built.version()
    saved = KeywordIndex.load(snapshot_root(built), version)
    assert saved is not None, "index build must leave a snapshot of the version it wrote"
    fresh = KeywordIndex.build(version, built.all_chunks())

    assert [c.id for c in saved.chunks] == [c.id for c in fresh.chunks]
    assert [c.text for c in saved.chunks] == [c.text for c in fresh.chunks]
    assert [c.meta for c in saved.chunks] == [c.meta for c in fresh.chunks]
    assert saved.common_words == fresh.common_words and "tungsten" in saved.common_words
    # The vocabulary read off the BM25 matrix is the chunk frequency of every term.
    counted: Counter[str] = Counter()
    for c in fresh.chunks:
        counted.update(set(terms(f"{c.meta['title']}\n{c.text}")))
    assert saved.doc_freq == dict(counted)
    query = [t for t in terms(QUESTION) if t in fresh.bm25.vocab_dict]
    assert np.allclose(saved.bm25.get_scores(query), fresh.bm25.get_scores(query))


def test_a_new_reader_loads_the_snapshot_without_reading_every_chunk(tmp_path: Path, built: ChunkStore) -> None:
    CountingStore.full_reads = 0
    reader = Retriever(CountingStore(tmp_path / "data"), HashEmbedder())
    assert CountingStore.full_reads == 0
    assert len(reader.chunks) == built.count()
    from_snapshot = [(h.chunk_id, round(h.score, 9)) for h in reader.search(QUESTION, k=8)]
    shutil.rmtree(snapshot_root(built))
    rebuilt = Retriever(CountingStore(tmp_path / "data"), HashEmbedder())
    assert CountingStore.full_reads == 1
    assert from_snapshot == [(h.chunk_id, round(h.score, 9)) for h in rebuilt.search(QUESTION, k=8)]


def test_a_missing_or_damaged_snapshot_is_rebuilt_from_the_store(
    tmp_path: Path, built: ChunkStore, caplog: pytest.LogCaptureFixture
) -> None:
    root = snapshot_root(built)
    (folder,) = [p for p in root.iterdir()]
    (folder / "chunks.json").write_text('{"format": "1", "ids": [', encoding="utf-8")  # cut off mid-write
    CountingStore.full_reads = 0
    with caplog.at_level(logging.WARNING, logger="index.keyword"):
        reader = Retriever(CountingStore(tmp_path / "data"), HashEmbedder())
    assert CountingStore.full_reads == 1 and "unreadable" in caplog.text
    assert len(reader.chunks) == built.count()


def test_an_unwritable_snapshot_folder_costs_speed_not_answers(tmp_path: Path, corpus_dir: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keyword-index").write_text("not a folder")  # mkdir under it fails
    store = ChunkStore(tmp_path / "data")
    Indexer(store, HashEmbedder(), corpus_dir).sync()
    reader = Retriever(store, HashEmbedder())
    assert len(reader.chunks) == store.count() > 0


def test_a_change_moves_the_snapshot_on_and_retokenizes_only_new_chunks(
    tmp_path: Path, corpus_dir: Path, built: ChunkStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = built.version()
    article = next(corpus_dir.glob("kazakhstan*.md"))
    article.write_text(article.read_text(encoding="utf-8") + "\nThe mine will also produce bismuth.\n", encoding="utf-8")

    tokenized: list[str] = []

    def counting_terms(text: str) -> list[str]:
        tokenized.append(text)
        return terms(text)

    monkeypatch.setattr(keyword, "terms", counting_terms)
    Indexer(built, HashEmbedder(), corpus_dir).sync()
    after = built.version()
    assert after != before
    root = snapshot_root(built)
    assert KeywordIndex.load(root, before) is None, "the old version's snapshot is dropped"
    snap = KeywordIndex.load(root, after)
    assert snap is not None and any("bismuth" in c.text for c in snap.chunks)
    assert 0 < len(tokenized) <= 3, f"only the changed chunks are tokenized again, not all {len(snap.chunks)}"
    assert any("bismuth" in t for t in tokenized)


def test_readers_follow_a_change_made_by_another_writer(tmp_path: Path, corpus_dir: Path, built: ChunkStore) -> None:
    reader = Retriever(CountingStore(tmp_path / "data"), HashEmbedder())
    (corpus_dir / "extra.md").write_text(
        "---\ntitle: Bolivia lithium deal\nsource: Test Wire\npublished: 2025-12-01\n---\n"
        "Bolivia signed a lithium agreement with a Korean firm on Monday. The plant will make 25,000 tons a year.\n",
        encoding="utf-8",
    )
    Indexer(built, HashEmbedder(), corpus_dir).sync()
    CountingStore.full_reads = 0
    reader.invalidate()
    assert any("Bolivia" in h.text for h in reader.search("Bolivia lithium agreement", k=3))
    assert reader._version == built.version(), "the reader sees the writer's new version"
    assert CountingStore.full_reads == 0, "and loads the snapshot the writer saved"


class MetadataCountingStore(ChunkStore):
    full_reads = 0

    def all_metadata(self):
        MetadataCountingStore.full_reads += 1
        return super().all_metadata()


def test_a_no_change_build_takes_the_stored_ids_from_the_snapshot(tmp_path: Path, corpus_dir: Path, built: ChunkStore) -> None:
    MetadataCountingStore.full_reads = 0
    report = Indexer(MetadataCountingStore(tmp_path / "data"), HashEmbedder(), corpus_dir).sync()
    assert (report.unchanged, report.chunks_embedded) == (2, 0)
    assert MetadataCountingStore.full_reads == 0


def test_a_write_that_never_finished_makes_the_next_build_read_the_store(
    tmp_path: Path, corpus_dir: Path, built: ChunkStore
) -> None:
    """A killed build can leave chunks the snapshot does not list, even at the same count: it must not be trusted."""
    embedder = HashEmbedder()
    expected = set(built.all_metadata())
    victim = sorted(expected)[0]
    built.mark_writing()
    built.delete([victim])  # same count as before: one chunk gone, one stray one added
    stray = {"doc_id": "an-article-since-deleted", "chunk_no": 0, "n_chunks": 1, "title": "Gone"}
    built.upsert(["an-article-since-deleted:0:feedbeef"], embedder.embed_documents(["gone"]), ["Gone."], [stray])
    assert built.count() == len(expected)

    MetadataCountingStore.full_reads = 0
    report = Indexer(MetadataCountingStore(tmp_path / "data"), embedder, corpus_dir).sync()
    assert MetadataCountingStore.full_reads == 1
    assert set(built.all_metadata()) == expected, "the stray chunk is deleted and the missing one embedded again"
    assert report.chunks_embedded == 1 and report.deleted == 1
    assert not built.is_writing()


def _built_counting(tmp_path: Path, corpus_dir: Path) -> tuple[CountingEmbedder, ChunkStore, KeywordIndex]:
    """The corpus indexed by a counting embedder, and the snapshot that build saved."""
    embedder = CountingEmbedder()
    store = ChunkStore(tmp_path / "data")
    Indexer(store, embedder, corpus_dir).sync()
    snap = KeywordIndex.load(snapshot_root(store), store.version())
    assert snap is not None
    return embedder, store, snap


def test_index_build_embeds_the_corpus_words_once_and_answers_reuse_them(tmp_path: Path, corpus_dir: Path) -> None:
    embedder, store, snap = _built_counting(tmp_path, corpus_dir)
    assert snap.word_vectors is not None
    assert {"tungsten", "venture", "antimony"} <= set(snap.word_vectors.words)
    assert np.allclose(snap.word_vectors.get("tungsten"), embedder.embed_documents(["tungsten"])[0])

    # A new reader compares corpus words by meaning without embedding any of them again.
    reader = Retriever(store, embedder)
    from bot.answering import Answerer

    answerer = Answerer(reader)
    embedder.texts.clear()
    answerer.words(["tungsten", "antimony", "gobbledygookery"])
    assert embedder.texts == ["gobbledygookery"], "only a word the corpus lacks is embedded at question time"

    # A change embeds only the words that are new to the corpus.
    article = next(corpus_dir.glob("kazakhstan*.md"))
    article.write_text(article.read_text(encoding="utf-8") + "\nThe mine will also yield bismuth.\n", encoding="utf-8")
    embedder.texts.clear()
    Indexer(store, embedder, corpus_dir).sync()
    new_words = [t for t in embedder.texts if " " not in t]
    assert "bismuth" in new_words and "tungsten" not in new_words


def test_index_build_stores_every_sentence_vector_so_answers_encode_none(tmp_path: Path, corpus_dir: Path) -> None:
    embedder, store, snap = _built_counting(tmp_path, corpus_dir)
    assert snap.sentence_vectors is not None
    lines = {line for c in snap.chunks for line in chunk_lines(c.text)}
    assert len(snap.sentence_vectors) == len(lines) and all(snap.sentence_vectors.get(line) is not None for line in lines)
    some = sorted(lines)[3]
    assert np.allclose(snap.sentence_vectors.get(some), embedder.embed_documents([some])[0])

    # A new reader's answer compares the question with its shortlisted sentences without encoding any of them.
    from bot.answering import Answerer

    reader = Retriever(store, embedder)
    answerer = Answerer(reader)
    query = answerer.encode(QUESTION)
    hits = reader.search(QUESTION, k=8, vector=query.vector)
    embedder.texts.clear()
    decision = answerer.decide(QUESTION, hits, query=query)
    # Both cosines are set (a cosine of exactly 0.0 is what compute() leaves for a candidate not shortlisted).
    assert decision.candidates and all(c.features["sentence_similarity"] and c.features["passage_similarity"] for c in decision.candidates)
    assert not lines.intersection(embedder.texts), "a corpus sentence was encoded at question time"

    # A change embeds only the sentences that are new; a deleted sentence leaves the table.
    article = next(corpus_dir.glob("kazakhstan*.md"))
    added = "The mine will also yield bismuth."
    article.write_text(article.read_text(encoding="utf-8") + f"\n{added}\n", encoding="utf-8")
    embedder.texts.clear()
    Indexer(store, embedder, corpus_dir).sync()
    snap = KeywordIndex.load(snapshot_root(store), store.version())
    assert snap is not None and snap.sentence_vectors is not None and snap.sentence_vectors.get(added) is not None
    other_article = next(line for c in snap.chunks if not c.meta["doc_id"].startswith("kazakhstan") for line in chunk_lines(c.text))
    assert added in embedder.texts and other_article not in embedder.texts


def test_index_build_with_no_change_adds_the_vectors_a_reader_built_snapshot_lacks(tmp_path: Path, corpus_dir: Path) -> None:
    store = ChunkStore(tmp_path / "data")
    Indexer(store, HashEmbedder(), corpus_dir).sync()
    shutil.rmtree(snapshot_root(store))
    Retriever(store, HashEmbedder())  # a reader finds no snapshot: it builds and saves one, without vectors
    snap = KeywordIndex.load(snapshot_root(store), store.version())
    assert snap is not None and snap.sentence_vectors is None and snap.word_vectors is None

    report = Indexer(store, HashEmbedder(), corpus_dir).sync()
    assert report.unchanged == 2 and report.chunks_embedded == 0
    snap = KeywordIndex.load(snapshot_root(store), store.version())
    assert snap is not None and snap.sentence_vectors is not None and snap.word_vectors is not None
    assert Retriever(store, HashEmbedder()).sentence_vectors is not None


def test_a_reader_rebuilding_after_a_format_bump_keeps_the_vectors_of_the_same_corpus(
    tmp_path: Path, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedder, store, before = _built_counting(tmp_path, corpus_dir)
    assert before.sentence_vectors is not None and before.word_vectors is not None
    monkeypatch.setattr(keyword, "FORMAT", str(int(keyword.FORMAT) + 1))  # a newer newsbot opens the same store
    assert KeywordIndex.load(snapshot_root(store), store.version()) is None, "the older snapshot is rebuilt"

    embedder.texts.clear()
    reader = Retriever(store, embedder)
    assert not embedder.texts, "a reader embeds nothing to rebuild the snapshot"
    assert reader.sentence_vectors is not None and reader.word_vectors is not None
    assert reader.sentence_vectors.words == before.sentence_vectors.words
    assert np.array_equal(reader.word_vectors.vectors, before.word_vectors.vectors)
    saved = KeywordIndex.load(snapshot_root(store), store.version())
    assert saved is not None and saved.sentence_vectors is not None and saved.word_vectors is not None


def test_a_reader_does_not_carry_over_the_vectors_of_another_version(tmp_path: Path, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, store, _ = _built_counting(tmp_path, corpus_dir)
    root = snapshot_root(store)
    (older,) = list(root.iterdir())
    shutil.copytree(older, tmp_path / "aside")
    (corpus_dir / "extra.md").write_text("---\ntitle: Extra\n---\nA new article about bismuth.\n", encoding="utf-8")
    Indexer(store, HashEmbedder(), corpus_dir).sync()
    shutil.rmtree(root)
    shutil.copytree(tmp_path / "aside", older)  # only the snapshot of the corpus before the change is left
    monkeypatch.setattr(keyword, "FORMAT", str(int(keyword.FORMAT) + 1))

    reader = Retriever(store, HashEmbedder())
    # Its tables lack the new article's sentences; a snapshot holding them would look complete to `index build`.
    assert reader.sentence_vectors is None and reader.word_vectors is None


def test_word_vectors_of_another_model_are_not_used(tmp_path: Path, built: ChunkStore) -> None:
    other = HashEmbedder()
    other.name = "another-model"
    assert Retriever(built, other).word_vectors is None
    assert Retriever(built, HashEmbedder()).word_vectors is not None


def test_tokens_of_a_snapshot_made_by_another_tokenizer_are_not_reused(tmp_path: Path, corpus_dir: Path) -> None:
    store = ChunkStore(tmp_path / "data")
    Indexer(store, HashEmbedder(), corpus_dir).sync()
    root = snapshot_root(store)
    (folder,) = [p for p in root.iterdir() if (p / "tokens.json").exists()]
    saved = json.loads((folder / "tokens.json").read_text(encoding="utf-8"))
    assert saved["format"] == keyword.FORMAT
    some_id = next(iter(saved["tokens"]))
    # An older newsbot's snapshot: a plain map of chunk ids to tokens that this tokenizer no longer makes.
    (folder / "tokens.json").write_text(json.dumps({cid: ["stale"] for cid in saved["tokens"]}), encoding="utf-8")
    (corpus_dir / "extra.md").write_text("---\ntitle: Extra\n---\nA new article about bismuth.\n", encoding="utf-8")
    Indexer(store, HashEmbedder(), corpus_dir).sync()
    snap = KeywordIndex.load(snapshot_root(store), store.version())
    assert snap is not None
    assert "stale" not in snap.doc_freq, "tokens of another tokenizer were reused"
    kept = next(c for c in snap.chunks if c.id == some_id)
    assert set(terms(f"{kept.meta['title']}\n{kept.text}")) <= set(snap.doc_freq)
