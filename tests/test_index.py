"""Chunking, syncing the store with the corpus, and hybrid search (fake embedder, real embedded Chroma)."""

from __future__ import annotations

import itertools
import logging
import re
from pathlib import Path

import numpy as np
import pytest

from bot.service import Newsbot
from bot.settings import Settings
from bot.types import Turn
from index.chunk import LineTokenCounter, chunk_article
from index.load import load_article
from index.search import Filters
from index.store import ChunkStore
from index.sync import Indexer
from tests.conftest import CORPUS
from tests.fakes import HashEmbedder


def _indexer(tmp_path: Path, corpus_dir: Path, embedder: HashEmbedder) -> Indexer:
    return Indexer(ChunkStore(tmp_path / "data"), embedder, corpus_dir)


def test_chunks_are_whole_sentences_with_deterministic_ids():
    article = load_article(CORPUS / "spglobal-central-asia-critical-minerals.md")
    count = HashEmbedder().count_tokens
    first = chunk_article(article, count, max_tokens=90)
    again = chunk_article(article, count, max_tokens=90)
    assert [c.id for c in first] == [c.id for c in again]
    assert len(first) > 5
    for c in first:
        assert c.id.startswith(f"{article.doc_id}:{c.chunk_no}:")
        assert count(c.text) <= 90 or "\n" not in c.text  # only a lone over-long sentence may exceed
        assert c.embed_text.startswith(article.title)
        for line in c.text.split("\n"):
            assert line[-1] in '.!?"”', line  # every line is a whole sentence
    assert any("Tajikistan exported 17,000 mt of antimony" in c.text for c in first)


def test_consecutive_chunks_share_a_sentence_of_context():
    """The sentence before a chunk often holds its subject ("Tungsten ... The U.S. has not mined the metal")."""
    article = load_article(CORPUS / "kazakhstan-tokayev-minerals-deal.md")
    chunks = chunk_article(article, HashEmbedder().count_tokens, max_tokens=128)
    shared = [set(a.text.split("\n")) & set(b.text.split("\n")) for a, b in itertools.pairwise(chunks)]
    assert len(shared) >= 3 and sum(bool(x) for x in shared) >= 2 * len(shared) / 3
    assert any(c.text.startswith("Tungsten, used to") and "not mined the metal since 2015" in c.text for c in chunks)


def test_the_smallest_chunk_size_the_settings_allow_still_chunks():
    """NEWSBOT_CHUNK_TOKENS may be 32: the overlap shrinks with the chunk (the splitter refuses one larger than it)."""
    article = load_article(CORPUS / "kazakhstan-tokayev-minerals-deal.md")
    count = HashEmbedder().count_tokens
    chunks = chunk_article(article, count, max_tokens=32)
    assert len(chunks) > len(chunk_article(article, count, max_tokens=128))
    assert all(count(c.text) <= 32 or "\n" not in c.text for c in chunks)


def test_line_counter_tokenizes_each_line_once_and_charges_what_a_line_break_costs():
    calls: list[str] = []

    def count(text: str) -> int:  # a tokenizer that spends two tokens on every line break
        calls.append(text)
        return len(text.split()) + 2 * text.count("\n")

    text = "One two three.\nFour five.\n\nSix."
    whole = count(text)
    counter = LineTokenCounter(count)
    calls.clear()
    assert counter(text) == whole == 6 + 3 * 2
    assert counter("Four five.\nOne two three.") == 5 + 2
    assert sorted(calls) == ["Four five.", "One two three.", "Six."], "each distinct line is tokenized once"


def test_chunks_come_out_the_same_as_with_whole_text_counts():
    """The per-line counter is an optimisation only: the splitter cuts exactly where whole-text counts cut."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from index.chunk import sentence_lines

    article = load_article(CORPUS / "spglobal-central-asia-critical-minerals.md")
    words_only = lambda text: len(text.split())  # noqa: E731 - counts nothing for a line break, like WordPiece
    chunks = chunk_article(article, words_only, max_tokens=60, overlap_tokens=30)
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=60, chunk_overlap=30, length_function=words_only, separators=["\n\n", "\n", " "], keep_separator=False
    )
    expected = [p.strip() for p in splitter.split_text(sentence_lines(article.text)) if p.strip()]
    assert [c.text for c in chunks] == [re.sub(r"\n\s*\n", "\n", p) for p in expected]


def test_chunk_text_is_stored_in_the_metadata_and_old_stores_still_read(tmp_path: Path):
    store = ChunkStore(tmp_path / "data")
    vector = np.ones((1, 8), dtype=np.float32) / np.sqrt(8)
    store.upsert(["a:0:x"], vector, ["New layout."], [{"doc_id": "a", "chunk_no": 0}])
    # A row written by an earlier newsbot: the text as Chroma's document.
    store._col.upsert(ids=["b:0:y"], embeddings=vector, documents=["Old layout."], metadatas=[{"doc_id": "b", "chunk_no": 0}])
    raw = store._col.get(ids=["a:0:x"], include=["documents", "metadatas"])
    assert raw["documents"] == [None] and raw["metadatas"][0]["text"] == "New layout."
    assert {c.id: (c.text, c.meta) for c in store.all_chunks()} == {
        "a:0:x": ("New layout.", {"doc_id": "a", "chunk_no": 0}),
        "b:0:y": ("Old layout.", {"doc_id": "b", "chunk_no": 0}),
    }
    assert store.all_metadata()["a:0:x"] == {"doc_id": "a", "chunk_no": 0}
    store.update_metadata(["a:0:x"], [{"doc_id": "a", "chunk_no": 0, "published": "2025-11-06"}])
    assert store.all_chunks()[0].text == "New layout.", "a metadata update keeps the text"


def test_second_build_embeds_nothing(tmp_path: Path, corpus_dir: Path, embedder: HashEmbedder):
    indexer = _indexer(tmp_path, corpus_dir, embedder)
    first = indexer.sync()
    assert (first.added, first.chunks_embedded) == (2, indexer.store.count())
    second = indexer.sync()
    assert second.as_dict() == {"added": 0, "updated": 0, "deleted": 0, "unchanged": 2, "chunks_embedded": 0, "precision": "", "skipped": []}


def test_editing_one_article_reembeds_only_its_changed_chunks(tmp_path: Path, corpus_dir: Path, embedder: HashEmbedder):
    indexer = _indexer(tmp_path, corpus_dir, embedder)
    indexer.sync()
    before = indexer.store.all_metadata()
    path = corpus_dir / "kazakhstan-tokayev-minerals-deal.md"
    path.write_text(path.read_text().replace("$900 million", "$950 million"))
    report = indexer.sync()
    assert (report.updated, report.unchanged, report.added, report.deleted) == (1, 1, 0, 0)
    after = indexer.store.all_metadata()
    kz_chunks = [i for i, m in after.items() if m["doc_id"] == "kazakhstan-tokayev-minerals-deal"]
    assert 1 <= report.chunks_embedded < len(kz_chunks)  # only the chunk whose text changed
    assert len(after) == len(before)
    assert all(after[i]["doc_hash"] == after[kz_chunks[0]]["doc_hash"] for i in kz_chunks)
    assert indexer.sync().chunks_embedded == 0


def test_deleting_an_article_removes_its_chunks(tmp_path: Path, corpus_dir: Path, embedder: HashEmbedder):
    indexer = _indexer(tmp_path, corpus_dir, embedder)
    indexer.sync()
    (corpus_dir / "spglobal-central-asia-critical-minerals.md").unlink()
    report = indexer.sync()
    assert report.deleted == 1
    assert {m["doc_id"] for m in indexer.store.all_metadata().values()} == {"kazakhstan-tokayev-minerals-deal"}


def test_bad_file_is_skipped_and_build_goes_on(tmp_path: Path, corpus_dir: Path, embedder: HashEmbedder, caplog):
    (corpus_dir / "garbage.md").write_bytes(b"\x00\xff\x00\xfe" * 50)
    indexer = _indexer(tmp_path, corpus_dir, embedder)
    with caplog.at_level(logging.INFO):
        report = indexer.sync()
    assert report.added == 2
    assert any("garbage.md" in s for s in report.skipped)
    assert "garbage.md" in caplog.text  # in the log at info level: callers show report.skipped, once


def test_interrupted_build_is_repaired_by_the_next(tmp_path: Path, corpus_dir: Path, embedder: HashEmbedder):
    indexer = _indexer(tmp_path, corpus_dir, embedder)
    indexer.sync()
    full = indexer.store.all_metadata()
    # a build killed part way: some chunks of one article never reached the store
    lost = [i for i, m in full.items() if m["doc_id"] == "spglobal-central-asia-critical-minerals"][:3]
    indexer.store.delete(lost)
    report = indexer.sync()
    assert report.updated == 1 and report.chunks_embedded == len(lost)
    assert set(indexer.store.all_metadata()) == set(full)


def test_add_and_remove(tmp_path: Path, corpus_dir: Path, embedder: HashEmbedder):
    indexer = _indexer(tmp_path, corpus_dir, embedder)
    indexer.sync()
    new = tmp_path / "chile-lithium.md"
    new.write_text(
        "---\ntitle: Chile lithium pact\nsource: Wire\npublished: 2025-12-01\n---\nChile signed a lithium pact with a US firm, officials said.\n"
    )
    added = indexer.add_file(new)
    assert (corpus_dir / "chile-lithium.md").exists() and added.chunks >= 1 and added.new
    assert added.article.doc_id == "chile-lithium" and added.path == corpus_dir / "chile-lithium.md"
    broken = tmp_path / "broken.md"
    broken.write_bytes(b"\x00\x00")
    with pytest.raises(Exception, match="binary"):
        indexer.add_file(broken)
    assert not (corpus_dir / "broken.md").exists()  # nothing broken lands in the corpus
    removed = indexer.remove("chile-lithium")
    assert removed.files == [corpus_dir / "chile-lithium.md"] and removed.chunks == added.chunks
    assert not (corpus_dir / "chile-lithium.md").exists()
    assert "chile-lithium" not in {m["doc_id"] for m in indexer.store.all_metadata().values()}
    with pytest.raises(KeyError):
        indexer.remove("chile-lithium")


def test_keyword_side_finds_exact_names_and_numbers(fake_bot):
    for query, needle in [("Tau-Ken Samruk", "Tau-Ken Samruk"), ("17,000", "17,000"), ("Severnyi Katpar", "Severnyi Katpar")]:
        hits = fake_bot.search(query, k=3)
        assert needle in hits[0].text, query
        assert hits[0].ranks.get("bm25", 99) <= 2  # chunks overlap, so two may hold the name


def test_filters_by_source_and_date(fake_bot):
    only_sp = fake_bot.search("tungsten joint venture", k=10, filters=Filters(source="S&P Global Commodity Insights"))
    assert only_sp and {h.doc_id for h in only_sp} == {"spglobal-central-asia-critical-minerals"}
    until = fake_bot.search("tungsten joint venture", k=10, filters=Filters(until="2025-11-06"))
    assert until and {h.doc_id for h in until} == {"kazakhstan-tokayev-minerals-deal"}
    assert fake_bot.search("tungsten", k=5, filters=Filters(since="2026-01-01")) == []
    with pytest.raises(ValueError, match="date"):
        Filters(since="last week")


def test_results_are_diverse_across_articles(fake_bot):
    hits = fake_bot.search("tungsten Kazakhstan joint venture production", k=6)
    assert len({h.doc_id for h in hits}) == 2
    assert max(sum(h.doc_id == d for h in hits) for d in {h.doc_id for h in hits}) <= 4


def test_a_build_with_nothing_to_embed_never_loads_the_model(tmp_path: Path, corpus_dir: Path) -> None:
    """`index build` with no change, `index list`: seconds of torch and weights saved when nothing needs a vector."""
    from index.embed import SentenceTransformerEmbedder

    model = SentenceTransformerEmbedder()
    stand_in = HashEmbedder()
    stand_in.name = model.name  # the store records the model's name; the check compares names only
    Indexer(ChunkStore(tmp_path / "data"), stand_in, corpus_dir).sync()

    report = Indexer(ChunkStore(tmp_path / "data"), model, corpus_dir).sync()
    assert (report.unchanged, report.chunks_embedded) == (2, 0)
    assert "model" not in vars(model), "the model was loaded though nothing was embedded"


def test_a_follow_up_is_searched_in_the_articles_the_last_answer_quoted(tmp_path: Path, embedder: HashEmbedder):
    """"How much will the project produce?" names no project, and the sentence that answers it names none either:
    the articles the conversation's last answer quoted are ranked on their own too, and fused with the rest."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    ventures = [("orion", "Orion Partners", "Alder Ridge", "61,400"), ("basalt", "Basalt Mining", "Cedar Hill", "3,500"),
                ("larch", "Larch Metals", "Fox Hollow", "12,800")]  # fmt: skip
    for slug, firm, site, output in ventures:
        (corpus / f"{slug}.md").write_text(
            f"# {firm} to develop {site}\n\n{firm} signed a deal to develop the {site} deposits with the state.\n\n"
            f"The lender said it could finance the venture. The project is expected to produce {output} tonnes of"
            " concentrate a year.\n"
        )
    settings = Settings(corpus_dir=corpus, data_dir=tmp_path / "data", chroma_url=None, _env_file=None)
    bot = Newsbot(settings, embedder=embedder, notify=lambda msg: None)
    question = "And how much will the project produce a year?"
    unfocused = bot.search(question, k=3)[0].doc_id
    for slug, firm, site, output in ventures:
        turn = Turn(f"Who will develop the {site} deposits?", f"{firm} signed a deal ... [1]", cited=(slug,))
        hits, _ = bot.retrieve(question, k=3, history=[turn])
        assert hits[0].doc_id == slug and output in hits[0].text, slug
        assert hits[0].ranks["focus"] == 1
        assert {h.doc_id for h in hits} != {slug}  # the rest of the corpus is still searched
    # without the articles it quoted, the same turn leaves the question to the corpus-wide ranking
    plain, _ = bot.retrieve(question, k=3, history=[Turn("Who will develop the Alder Ridge deposits?", "... [1]")])
    assert "focus" not in plain[0].ranks and bot.search(question, k=3)[0].doc_id == unfocused
