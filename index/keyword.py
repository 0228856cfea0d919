"""The keyword side of retrieval, kept on disk: every chunk's text, a BM25 index and the corpus's word and
sentence vectors, one snapshot per store version.

Building it means reading every chunk back from Chroma and tokenizing it: at
11,664 chunks (2,002 articles) that took 3.2 s and left the process about
100 MB larger (Chroma's buffers for the full read, the token lists). A process
that finds a snapshot for the store's current version loads it in tens of
milliseconds instead, with the BM25 matrices memory-mapped. ``index build``
writes the snapshot after every change, so a new ``newsbot ask`` or a bot that
sees the change only loads it; any reader that finds none builds and saves it.

Snapshots live under ``<data dir>/keyword-index/<store>/<version>/``. A snapshot
is written to a temporary folder and renamed into place, so a reader never
sees half of one. Chunk ids carry a hash of title and text, so the token lists
of chunks that did not change are taken from the previous snapshot.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index.embed import Embedder
from index.store import ChunkStore, StoredChunk
from index.text import chunk_lines, content_words, terms

if TYPE_CHECKING:
    import bm25s

log = logging.getLogger(__name__)

FORMAT = "4"  # bump when the files or the tokenizer change: older snapshots are then ignored (4: abbreviated months)
_CHUNKS = "chunks.json"
_TOKENS = "tokens.json"
_BM25 = "bm25"
_WORDS = "words.json"
_WORD_VECTORS = "word_vectors.npy"
_SENTENCES = "sentences.json"
_SENTENCE_VECTORS = "sentence_vectors.npy"
_TMP = ".tmp-"  # a snapshot being written: `.tmp-<pid>-<random>`, renamed into place when complete
STALE_TMP_S = 3600.0  # a snapshot is written in seconds; a temporary folder this old was left by a killed process
WORD_BATCH = 128
SENTENCE_BATCH = 16  # quotable sentences per call: 245/s in batches of 16, 231/s in batches of 64 here (2,549 sentences)


@dataclass
class WordTable:
    """A vector for each of a list of texts, one row each (memory-mapped when loaded): the corpus's words or sentences.

    The answerer compares question words with the words of candidate sentences by meaning, and the
    question with each shortlisted sentence. Embedding a word costs about 1 ms here, and a new
    question's candidates brought 10-140 unseen words; encoding its six shortlisted sentences took
    about 30 ms, half of a warm answer. `index build` embeds them instead, each text once (texts
    already in the previous snapshot are copied, not embedded again).
    """

    model: str
    words: list[str]
    vectors: np.ndarray
    _rows: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rows = {w: i for i, w in enumerate(self.words)}

    def get(self, word: str) -> np.ndarray | None:
        row = self._rows.get(word)
        return None if row is None else np.asarray(self.vectors[row], dtype=np.float32)

    def __len__(self) -> int:
        return len(self.words)


def sentence_key(sentence: str) -> str:
    """The key a sentence is stored under: a 64-bit hash, so the listing a reader parses stays small."""
    return hashlib.blake2b(sentence.encode("utf-8"), digest_size=8).hexdigest()


class SentenceTable(WordTable):
    """A :class:`WordTable` of sentences, listed by :func:`sentence_key` (at 2,002 articles their text would be
    megabytes of JSON for every new process to parse, and the chunks already hold it)."""

    def get(self, word: str) -> np.ndarray | None:
        return super().get(sentence_key(word))


@dataclass
class KeywordIndex:
    """Every stored chunk in article order, BM25 over title + text, and the corpus's vocabulary."""

    version: str
    chunks: list[StoredChunk]
    bm25: bm25s.BM25 | SavedBM25 | None
    doc_freq: dict[str, int]  # stemmed term -> number of chunks holding it
    common_words: frozenset[str]  # words the corpus writes in lower case somewhere (names are not among them)
    tokens: dict[str, list[str]] = field(default_factory=dict, repr=False)  # chunk id -> terms; only when built here
    word_vectors: WordTable | None = None  # saved by `index build`; a reader only carries an older FORMAT's over
    sentence_vectors: SentenceTable | None = None  # every line of every chunk (the sentences the answerer quotes), likewise

    @classmethod
    def build(cls, version: str, chunks: Iterable[StoredChunk], known_tokens: dict[str, list[str]] | None = None) -> KeywordIndex:
        """Index ``chunks``; token lists in ``known_tokens`` (by chunk id) are reused rather than recomputed."""
        # In article order, whatever order the store returns (it follows insertion): ties rank the same every time.
        ordered = sorted(chunks, key=lambda c: (str(c.meta.get("doc_id", "")), int(c.meta.get("chunk_no", 0))))
        known = known_tokens or {}
        tokens = {c.id: known.get(c.id) or terms(indexed_text(c)) for c in ordered}
        bm25 = None
        if ordered:
            bm25 = _bm25s().BM25()
            bm25.index([tokens[c.id] for c in ordered], show_progress=False)
        common: set[str] = set()
        for c in ordered:
            common.update(re.findall(r"\b[a-z][a-z-]+\b", c.text))
        return cls(version, ordered, bm25, _doc_freq(bm25), frozenset(common), tokens)

    # -- on disk --------------------------------------------------------------------
    def save(self, root: Path) -> None:
        """Write this index as the snapshot of its version under ``root`` and drop older snapshots there."""
        root.mkdir(parents=True, exist_ok=True)
        final = root / _folder(self.version)
        if final.exists():
            return  # another process saved the same version first
        tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP}{os.getpid()}-", dir=root))
        try:
            table = {
                "format": FORMAT,
                "version": self.version,
                "ids": [c.id for c in self.chunks],
                "texts": [c.text for c in self.chunks],
                "metas": [c.meta for c in self.chunks],
                "common_words": sorted(self.common_words),
            }
            (tmp / _CHUNKS).write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")
            # The tokenizer's FORMAT beside the tokens: a build reuses them only if it tokenizes the same way.
            (tmp / _TOKENS).write_text(json.dumps({"format": FORMAT, "tokens": self.tokens}, ensure_ascii=False), encoding="utf-8")
            if self.bm25 is not None:
                self.bm25.save(str(tmp / _BM25), show_progress=False)
            _save_table(tmp, self.word_vectors, _WORDS, _WORD_VECTORS)
            _save_table(tmp, self.sentence_vectors, _SENTENCES, _SENTENCE_VECTORS)
            tmp.rename(final)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not final.exists():
                raise
            return
        for old in root.iterdir():  # a reader still holding an old one keeps its open files (and falls back if not)
            if old != final and not old.name.startswith(_TMP):
                shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, root: Path, version: str) -> KeywordIndex | None:
        """The snapshot of ``version`` under ``root``, or None if there is none (or it cannot be read)."""
        folder = root / _folder(version)
        if not folder.is_dir():
            return None
        try:
            table = json.loads((folder / _CHUNKS).read_text(encoding="utf-8"))
            if table.get("format") != FORMAT or table.get("version") != version:
                return None
            chunks = [StoredChunk(i, t, m) for i, t, m in zip(table["ids"], table["texts"], table["metas"], strict=True)]
            bm25 = load_bm25(folder / _BM25) if chunks else None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("keyword snapshot %s is unreadable (%s); rebuilding it from the store", folder, exc)
            return None
        common = frozenset(table.get("common_words", ()))
        words = _load_table(folder, _WORDS, _WORD_VECTORS)
        sentences = _load_table(folder, _SENTENCES, _SENTENCE_VECTORS, SentenceTable)
        return cls(version, chunks, bm25, _doc_freq(bm25), common, {}, words, sentences)

    def add_vectors(self, root: Path, embedder: Embedder) -> None:
        """Embed the word and sentence tables this saved snapshot lacks (one a reader built) and add them to it.

        ``index build`` calls this when nothing changed, so a snapshot saved without them (or by an older
        newsbot) does not leave every answer encoding its sentences again.
        """
        folder = root / _folder(self.version)
        if self.word_vectors is None or self.word_vectors.model != embedder.name:
            self.word_vectors = embed_corpus_words(self.chunks, self.chunks, embedder, None)
            _save_table(folder, self.word_vectors, _WORDS, _WORD_VECTORS)
        if self.sentence_vectors is None or self.sentence_vectors.model != embedder.name:
            self.sentence_vectors = embed_corpus_sentences(self.chunks, embedder, None)
            _save_table(folder, self.sentence_vectors, _SENTENCES, _SENTENCE_VECTORS)


class SavedBM25:
    """A bm25s index as ``bm25s.BM25.save`` wrote it, read back for scoring alone, without importing bm25s.

    bm25s scores every (term, chunk) pair when it indexes and saves the scores as a sparse matrix with a
    column per term; ``BM25.get_scores`` adds up the query terms' columns (``_compute_relevance_from_scores``
    in bm25s/__init__.py), and :meth:`get_scores` does the same on the memory-mapped arrays. bm25s imports
    scipy, which was a tenth of a second or more of every cold ``newsbot ask``. The variants that also
    save a non-occurrence array (BM25L, BM25+) are left to bm25s (see :func:`load_bm25`).
    """

    def __init__(self, folder: Path) -> None:
        params = json.loads((folder / "params.index.json").read_text(encoding="utf-8"))
        self.vocab_dict: dict[str, int] = json.loads((folder / "vocab.index.json").read_text(encoding="utf-8"))
        self.scores: dict = {n: np.load(folder / f"{n}.csc.index.npy", mmap_mode="r") for n in ("data", "indices", "indptr")}
        self.scores["num_docs"] = int(params["num_docs"])
        self.dtype = np.dtype(params.get("dtype", "float32"))

    def get_scores(self, query_tokens: list[str]) -> np.ndarray:
        """The BM25 score of every chunk for the query's tokens (unknown tokens count for nothing)."""
        data, indices, indptr = self.scores["data"], self.scores["indices"], self.scores["indptr"]
        scores = np.zeros(self.scores["num_docs"], dtype=self.dtype)
        for token_id in (self.vocab_dict[t] for t in query_tokens if t in self.vocab_dict):
            start, end = indptr[token_id], indptr[token_id + 1]
            np.add.at(scores, indices[start:end], data[start:end])
        return scores


def load_bm25(folder: Path) -> bm25s.BM25 | SavedBM25:
    """A saved BM25 index: read by :class:`SavedBM25` when it can score it, else loaded by bm25s."""
    params = json.loads((folder / "params.index.json").read_text(encoding="utf-8"))
    if params.get("method") in ("bm25l", "bm25+"):
        return _bm25s().BM25.load(str(folder), mmap=True, show_progress=False)
    return SavedBM25(folder)


def _bm25s():
    """bm25s, imported when an index is built (not at the top: a process that only answers reads a saved one)."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # its import sets DEBUG, and it logs every index build
    return bm25s


def indexed_text(chunk: StoredChunk) -> str:
    """What the keyword index reads of a chunk: its article's title, then its text."""
    return f"{chunk.meta.get('title', '')}\n{chunk.text}"


def snapshot_root(store: ChunkStore) -> Path:
    """Where the snapshots of this store's collection live (a server's too: each machine keeps its own)."""
    # store.location is resolved: however the data dir is spelled (`./data`, `/abs/data`), one snapshot.
    key = hashlib.sha1(f"{store.location}\n{store.collection_name}".encode()).hexdigest()[:12]
    return Path(store.data_dir).resolve() / "keyword-index" / key


def open_keyword_index(store: ChunkStore, version: str | None = None, embedder: Embedder | None = None) -> KeywordIndex:
    """The keyword index of the store as it is now: its snapshot if one is saved, else built and saved.

    With an ``embedder`` (``index build`` passes its own), a new snapshot also holds the corpus's word vectors.
    """
    version = version or store.version()
    root = snapshot_root(store)
    loaded = KeywordIndex.load(root, version)
    if loaded is not None:
        return loaded
    known_tokens = _previous_tokens(root)
    built = KeywordIndex.build(version, store.all_chunks(), known_tokens)
    if embedder is not None:
        new_chunks = [c for c in built.chunks if c.id not in known_tokens]
        built.word_vectors = embed_corpus_words(built.chunks, new_chunks, embedder, _previous_table(root, _WORDS, _WORD_VECTORS))
        previous = _previous_table(root, _SENTENCES, _SENTENCE_VECTORS, SentenceTable)
        built.sentence_vectors = embed_corpus_sentences(built.chunks, embedder, previous)
    else:
        built.word_vectors, built.sentence_vectors = _tables_of_older_format(root, version)
    try:
        built.save(root)
    except OSError as exc:  # a read-only or full disk costs speed on the next start, nothing else
        log.warning("cannot save the keyword snapshot under %s: %s", root, exc)
    built.tokens = {}  # only the next build needs them, and it reads them from disk
    log.debug("keyword index built: %d chunks", len(built.chunks))
    return built


def complete_snapshot(store: ChunkStore, embedder: Embedder) -> None:
    """Make sure the store's current snapshot exists with its word and sentence vectors (``index build`` with no change).

    Only file names are checked when it is complete, so the model is not loaded; a snapshot a reader built, or
    an older newsbot saved, gains its tables here.
    """
    version = store.version()
    root = snapshot_root(store)
    folder = root / _folder(version)
    if folder.is_dir() and all((folder / n).is_file() for n in (_WORDS, _WORD_VECTORS, _SENTENCES, _SENTENCE_VECTORS)):
        return
    open_keyword_index(store, version, embedder).add_vectors(root, embedder)


def embed_corpus_words(
    chunks: Sequence[StoredChunk], new_chunks: Sequence[StoredChunk], embedder: Embedder, previous: WordTable | None
) -> WordTable:
    """Vectors of every content word in the chunks' texts and titles; rows of ``previous`` are reused.

    With a usable ``previous`` table only ``new_chunks`` are read for words (at 11,664 chunks, reading
    them all was 2 s of every build): its words stay, including those of chunks deleted since. The
    table is a cache of vectors, and a word no chunk holds any more is never looked up.
    """
    reuse = previous if previous is not None and previous.model == embedder.name else None
    read = new_chunks if reuse is not None else chunks
    vocab = {w for c in read for w in content_words(indexed_text(c))}.union(reuse.words if reuse is not None else ())
    return _embed_table(sorted(vocab), embedder, reuse, WORD_BATCH)


def embed_corpus_sentences(chunks: Sequence[StoredChunk], embedder: Embedder, previous: SentenceTable | None) -> SentenceTable:
    """Vectors of every sentence of the chunks; rows of ``previous`` are reused, and only its sentences still in a chunk kept.

    Unlike words, sentences are many (about seven a chunk) and belong to one article, so the table follows the corpus
    (every chunk is read; only sentences ``previous`` lacks are embedded).
    """
    reuse = previous if previous is not None and previous.model == embedder.name else None
    batch_size = getattr(embedder, "batch_size", SENTENCE_BATCH)  # the bfloat16 twin's own
    table = _embed_table(sorted({s for c in chunks for s in chunk_lines(c.text)}), embedder, reuse, batch_size)
    return SentenceTable(table.model, [sentence_key(s) for s in table.words], table.vectors)


def _embed_table(texts: list[str], embedder: Embedder, reuse: WordTable | None, batch_size: int) -> WordTable:
    """A table of ``texts``' vectors: those in ``reuse`` copied, the rest embedded."""
    known = {t: v for t in texts if reuse is not None and (v := reuse.get(t)) is not None}
    todo = [t for t in texts if t not in known]
    fresh = embedder.embed_documents(todo, batch_size=batch_size) if todo else []
    known.update(zip(todo, fresh, strict=True))
    vectors = np.stack([known[t] for t in texts]).astype(np.float32) if texts else np.zeros((0, 0), np.float32)
    log.debug("vector table: %d texts, %d embedded", len(texts), len(todo))
    return WordTable(embedder.name, texts, vectors)


def _save_table(folder: Path, table: WordTable | None, listing_name: str, vectors_name: str) -> None:
    """Write a table's listing and vectors into ``folder``, each by a rename (a reader sees all of a file or none)."""
    if table is None:
        return
    listing = json.dumps({"model": table.model, "words": table.words}, ensure_ascii=False)
    # The vectors go first: a listing found beside vectors of another length is ignored (see _load_table).
    for name, write in (
        (vectors_name, lambda f: np.save(f, np.asarray(table.vectors, dtype=np.float32))),
        (listing_name, lambda f: f.write(listing.encode("utf-8"))),
    ):
        tmp = folder / f"{_TMP}{os.getpid()}-{name}"
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, folder / name)


def _load_table(folder: Path, listing_name: str, vectors_name: str, kind: type[WordTable] = WordTable) -> WordTable | None:
    try:
        table = json.loads((folder / listing_name).read_text(encoding="utf-8"))
        vectors = np.load(folder / vectors_name, mmap_mode="r")
    except (OSError, ValueError):
        return None  # none saved (a reader built this snapshot): the answerer embeds texts as it needs them
    if len(table.get("words", ())) != len(vectors):
        return None
    return kind(str(table.get("model", "")), list(table["words"]), vectors)


def _newest_snapshots(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if not p.name.startswith(_TMP)), key=_mtime, reverse=True)


def sweep_temp_folders(root: Path, now: float | None = None) -> list[Path]:
    """Remove the half-written snapshot folders that killed processes left under ``root``; return them.

    A folder is left alone while the process named in it (``.tmp-<pid>-...``) runs, unless it is over an
    hour old (the pid may have been reused); a folder without a pid (older newsbot) goes once it is an hour old.
    ``index build`` calls this under the writer lock; readers also write snapshots, which is why the pid is checked.
    """
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    removed = []
    for folder in root.iterdir():
        if not folder.name.startswith(_TMP):
            continue
        pid_text = folder.name[len(_TMP) :].split("-", 1)[0]
        old = now - _mtime(folder) > STALE_TMP_S
        if old or (pid_text.isdigit() and not _running(int(pid_text))):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    if removed:
        log.info("removed %d unfinished keyword snapshot folder(s) under %s", len(removed), root)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _previous_tokens(root: Path) -> dict[str, list[str]]:
    """Token lists of the newest saved snapshot made by this tokenizer (FORMAT), by chunk id; empty when there is none.

    A snapshot of an older FORMAT holds tokens the tokenizer no longer makes ("Jerónimo" was "jer", "nimo" before
    letters were folded): reusing them kept a changed tokenizer from reaching the chunks that did not change.
    """
    for folder in _newest_snapshots(root):
        try:
            saved = json.loads((folder / _TOKENS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(saved, dict) and saved.get("format") == FORMAT and isinstance(saved.get("tokens"), dict):
            return saved["tokens"]
    return {}


def _previous_table(root: Path, listing_name: str, vectors_name: str, kind: type[WordTable] = WordTable) -> WordTable | None:
    """The word (or sentence) vectors of the newest saved snapshot that has them."""
    for folder in _newest_snapshots(root):
        if (table := _load_table(folder, listing_name, vectors_name, kind)) is not None:
            return table
    return None


def _tables_of_older_format(root: Path, version: str) -> tuple[WordTable | None, SentenceTable | None]:
    """The word and sentence tables an older FORMAT saved for this same store ``version``, else None for each.

    A FORMAT bump makes the first reader rebuild the snapshot, and a reader has no model to embed with. A text's
    vector does not depend on the tokenizer, and the same version holds the same chunks, so the older snapshot's
    tables still serve (a word the new tokenizer reads that they lack is embedded when an answer needs it). Without
    them every answer encoded its shortlisted sentences until the next ``index build``: 26 -> 36 ms a question.
    """
    words: WordTable | None = None
    sentences: SentenceTable | None = None
    for older in range(int(FORMAT) - 1, 0, -1):
        folder = root / _folder(version, str(older))
        if words is None:
            words = _load_table(folder, _WORDS, _WORD_VECTORS)
        if sentences is None:
            sentences = _load_table(folder, _SENTENCES, _SENTENCE_VECTORS, SentenceTable)
    return words, sentences


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _folder(version: str, format_: str | None = None) -> str:
    return hashlib.sha1(f"{format_ or FORMAT}\n{version}".encode()).hexdigest()[:16]


def _doc_freq(bm25: bm25s.BM25 | SavedBM25 | None) -> dict[str, int]:
    """Chunk frequency of every indexed term, read off the BM25 matrix (one column per term)."""
    if bm25 is None:
        return {}
    counts = np.diff(np.asarray(bm25.scores["indptr"]))
    return {term: int(counts[tid]) for term, tid in bm25.vocab_dict.items() if term and tid < len(counts)}
