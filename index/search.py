"""Hybrid retrieval: dense (Chroma) and keyword (BM25) candidates fused by reciprocal rank.

Embeddings blur names and numbers ("Severnyi Katpar", "17,000"); BM25 finds
them exactly. Each candidate is scored on both sides (see Retriever._fuse), and
reciprocal rank fusion needs no calibration between the two kinds of score.
The retriever also keeps every chunk's text in memory (index/keyword.py loads
them with the BM25 index), which lets the answerer look at a hit's neighbouring
sentences without another query.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import math
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from index.embed import Embedder
from index.keyword import SavedBM25, WordTable, open_keyword_index
from index.store import ChunkStore, StoredChunk
from index.text import terms

if TYPE_CHECKING:
    import bm25s

log = logging.getLogger(__name__)

RRF_K = 60  # the constant from Cormack et al.: damps the weight of the very top ranks
REFRESH_EVERY_S = 2.0


@dataclass(frozen=True)
class Filters:
    """Restrict a search to one publisher and/or a range of publication dates (ISO, inclusive)."""

    source: str | None = None
    since: str | None = None
    until: str | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value:
                # YYYY-MM-DD only: Python also reads "20251106" and "2025-W45-4", which would compare wrongly below.
                try:
                    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                        raise ValueError("not YYYY-MM-DD")
                    dt.date.fromisoformat(value)
                except ValueError as exc:
                    raise ValueError(f"--{name} must be a date like 2025-11-06, not {value!r}") from exc
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"--since {self.since} is after --until {self.until}: no date is in that range")

    def where(self) -> dict | None:
        """The same filter as a Chroma ``where`` clause (used by the dense side)."""
        clauses: list[dict] = []
        if self.source:
            clauses.append({"source": self.source})
        if self.since:
            clauses.append({"published_ord": {"$gte": int(self.since.replace("-", ""))}})
        if self.until:
            clauses.append({"published_ord": {"$lte": int(self.until.replace("-", ""))}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def admits(self, meta: dict[str, Any]) -> bool:
        if self.source and str(meta.get("source", "")).lower() != self.source.lower():
            return False
        published = str(meta.get("published") or "")
        if self.since and (not published or published < self.since):
            return False
        return not (self.until and (not published or published > self.until))


@dataclass
class Hit:
    """One retrieved chunk with its fused score and the evidence behind it."""

    chunk_id: str
    doc_id: str
    text: str
    meta: dict[str, Any]
    score: float
    dense: float = 0.0  # cosine similarity of question and chunk (0 when only BM25 found it)
    bm25: float = 0.0
    ranks: dict[str, int] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return str(self.meta.get("title", ""))


class Retriever:
    """Search over a :class:`ChunkStore`, keeping an in-memory BM25 index in step with it."""

    def __init__(self, store: ChunkStore, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder
        self._lock = threading.Lock()
        self._version: str | None = None
        self._checked_at = 0.0
        self.chunks: list[StoredChunk] = []
        self._pos: dict[str, int] = {}
        self._by_doc: dict[str, dict[int, int]] = {}
        self.doc_freq: dict[str, int] = {}
        self.common_words: frozenset[str] = frozenset()
        self.word_vectors: WordTable | None = None  # the corpus's words, embedded by `index build`
        self.sentence_vectors: WordTable | None = None  # every chunk's sentences, likewise
        self._bm25: bm25s.BM25 | SavedBM25 | None = None
        # A long-running process (the Discord bot) sets this: each index loaded is then left out of garbage
        # collections (gc.freeze), which would otherwise walk all of it holding the GIL (0.2 s at 2,002 articles).
        self.freeze_after_load = False
        self.refresh(force=True)

    # -- keeping the keyword index current ----------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Reload the keyword index if the store changed since the last load (checked at most every 2 s)."""
        now = time.monotonic()
        if not force and now - self._checked_at < REFRESH_EVERY_S:
            return
        with self._lock:
            self._checked_at = now
            version = self.store.version()
            if not force and version == self._version:
                return
            self.store.catch_up()  # another process wrote: load its vectors too, not only its keyword snapshot
            index = open_keyword_index(self.store, version)
            by_doc: dict[str, dict[int, int]] = defaultdict(dict)
            for i, c in enumerate(index.chunks):
                by_doc[str(c.meta.get("doc_id"))][int(c.meta.get("chunk_no", 0))] = i
            self.chunks, self._bm25, self.doc_freq = index.chunks, index.bm25, index.doc_freq
            self.common_words = index.common_words
            self.word_vectors = _of_model(index.word_vectors, self.embedder.name)
            self.sentence_vectors = _of_model(index.sentence_vectors, self.embedder.name)
            self._pos = {c.id: i for i, c in enumerate(index.chunks)}
            self._by_doc = dict(by_doc)
            self._version = version
            if self.freeze_after_load:
                gc.freeze()

    def invalidate(self) -> None:
        """Force a reload on the next search (after this process changed the store)."""
        self._checked_at = float("-inf")  # "never checked", whatever clock time.monotonic reads (a test clock starts at 0)
        self._version = None

    # -- lookups used by the answerer -------------------------------------------
    def idf(self, term: str) -> float:
        """Inverse chunk frequency of a stemmed term; unseen terms get the maximum."""
        n = max(1, len(self.chunks))
        return math.log(1 + n / (1 + self.doc_freq.get(term, 0)))

    def neighbour(self, hit_or_meta: dict[str, Any], offset: int) -> StoredChunk | None:
        """The chunk ``offset`` places before/after the given one in the same article."""
        doc = self._by_doc.get(str(hit_or_meta.get("doc_id")), {})
        pos = doc.get(int(hit_or_meta.get("chunk_no", 0)) + offset)
        return self.chunks[pos] if pos is not None else None

    def documents(self) -> dict[str, dict[str, Any]]:
        """doc_id -> metadata of its first chunk, plus its chunk count."""
        docs: dict[str, dict[str, Any]] = {}
        for c in self.chunks:
            d = docs.setdefault(str(c.meta.get("doc_id")), {**c.meta, "chunks": 0})
            d["chunks"] += 1
        return docs

    # -- search -------------------------------------------------------------------
    def search(
        self,
        question: str,
        k: int = 8,
        filters: Filters | None = None,
        extra_terms: Iterable[str] = (),
        vector: np.ndarray | None = None,
        focus: Iterable[str] = (),
    ) -> list[Hit]:
        """The ``k`` best chunks for ``question``, fused from dense and BM25 rankings, diverse across articles.

        ``focus``: doc ids of the articles a conversation is about (those the last answer quoted). Their chunks
        are ranked among themselves too, and that ranking is fused with the corpus-wide one: "and how much will
        it cost?" names nothing, and the sentence that answers it may not name the project either.
        """
        self.refresh()
        filters = filters or Filters()
        pool = max(4 * k, 24)
        if vector is None:
            vector = self.embedder.embed_query(question)
        dense = self.store.query(vector, pool, where=filters.where())
        bm25_scores = self._bm25_scores(terms(question) + list(extra_terms))
        keyword = self._bm25_rank(bm25_scores, pool, filters)
        ranked = self._fuse(vector, dense, keyword, bm25_scores)
        if focus:
            ranked = self._with_focus(ranked, list(dict.fromkeys(focus)), vector, bm25_scores, filters)
        return diversify(ranked, k)

    def _with_focus(
        self, ranked: list[Hit], focus: list[str], vector: np.ndarray, bm25_scores: np.ndarray | None, filters: Filters
    ) -> list[Hit]:
        """``ranked`` fused by reciprocal rank with a ranking of the focus articles' chunks alone (scored as
        :meth:`_fuse` scores: both sides, then reciprocal rank fusion)."""
        positions = [p for doc in focus for p in self._by_doc.get(doc, {}).values() if filters.admits(self.chunks[p].meta)]
        if not positions:
            return ranked
        seen = {h.chunk_id: h for h in ranked}
        local: dict[str, Hit] = {}  # the focus articles' chunks, those the corpus-wide ranking holds as it holds them
        for p in positions:
            c = self.chunks[p]
            if (hit := seen.get(c.id)) is None:
                hit = Hit(c.id, str(c.meta.get("doc_id")), c.text, c.meta, 0.0)
                hit.bm25 = float(bm25_scores[p]) if bm25_scores is not None and p < len(bm25_scores) else 0.0
            local[c.id] = hit
        self._set_dense(local, [cid for cid in local if cid not in seen], vector)
        within = reciprocal_rank_fusion(local.values())
        fused = {h.chunk_id: 1.0 / (RRF_K + rank) for rank, h in enumerate(ranked, start=1)}
        for rank, cid in enumerate(sorted(within, key=lambda c: -within[c]), start=1):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank)
            seen.setdefault(cid, local[cid]).ranks["focus"] = rank
        for cid, score in fused.items():
            seen[cid].score = score
        return sorted(seen.values(), key=lambda h: h.score, reverse=True)

    def _fuse(
        self,
        vector: np.ndarray,
        dense: list[tuple[str, float]],
        keyword: list[tuple[str, float]],
        bm25_scores: np.ndarray | None,
    ) -> list[Hit]:
        """Both scores for every candidate of either ranking, then reciprocal rank fusion over the candidates.

        A candidate found by only one side still gets its rank on the other (its
        stored vector, its entry in the full BM25 array): among many near-duplicate
        articles a chunk that BM25 finds by a rare name ("Severnyi Katpar") would
        otherwise miss its dense rank altogether and sink below the look-alikes.
        """
        fused: dict[str, Hit] = {}
        for rank, (cid, sim) in enumerate(dense):
            chunk = self._chunk(cid)
            if chunk is None:
                continue  # stored after our last refresh; the next refresh will have it
            hit = fused.setdefault(cid, Hit(cid, str(chunk.meta.get("doc_id")), chunk.text, chunk.meta, 0.0))
            hit.dense, hit.ranks["dense"] = sim, rank + 1
        for rank, (cid, score) in enumerate(keyword):
            chunk = self._chunk(cid)
            if chunk is None:
                continue
            hit = fused.setdefault(cid, Hit(cid, str(chunk.meta.get("doc_id")), chunk.text, chunk.meta, 0.0))
            hit.bm25, hit.ranks["bm25"] = score, rank + 1
        if bm25_scores is not None:  # a dense-only candidate still has a BM25 score, just not a top one
            for cid, hit in fused.items():
                if "bm25" not in hit.ranks and (pos := self._pos.get(cid)) is not None and pos < len(bm25_scores):
                    hit.bm25 = float(bm25_scores[pos])
        self._set_dense(fused, [cid for cid, hit in fused.items() if "dense" not in hit.ranks], vector)
        if not fused:
            return []
        for cid, score in reciprocal_rank_fusion(fused.values()).items():
            fused[cid].score = score
        return sorted(fused.values(), key=lambda h: h.score, reverse=True)

    def _set_dense(self, hits: dict[str, Hit], chunk_ids: list[str], vector: np.ndarray) -> None:
        """Give those of ``hits`` no dense ranking scored their cosine with ``vector``, from their stored vectors."""
        for cid, vec in self.store.embeddings(chunk_ids).items():
            norm = float(np.linalg.norm(vec)) or 1.0
            hits[cid].dense = float(np.dot(vec, vector) / norm)

    def _chunk(self, cid: str) -> StoredChunk | None:
        pos = self._pos.get(cid)
        return self.chunks[pos] if pos is not None else None

    def _bm25_scores(self, query_terms: list[str]) -> np.ndarray | None:
        """BM25 score of every chunk (in ``self.chunks`` order), or None when no query term is indexed."""
        if self._bm25 is None:
            return None
        known = [t for t in query_terms if t in self._bm25.vocab_dict]
        if not known:
            return None
        return self._bm25.get_scores(known)

    def _bm25_rank(self, scores: np.ndarray | None, k: int, filters: Filters) -> list[tuple[str, float]]:
        if scores is None:
            return []
        positive = int(np.count_nonzero(scores > 0))
        if not positive:
            return []
        take = min(positive, 4 * k if filters.where() else k)
        top = np.argpartition(-scores, take - 1)[:take] if take < len(scores) else np.arange(len(scores))
        order = top[np.argsort(-scores[top], kind="stable")]
        out: list[tuple[str, float]] = []
        for i in order:
            if scores[i] <= 0 or len(out) >= k:
                break
            chunk = self.chunks[int(i)]
            if filters.admits(chunk.meta):
                out.append((chunk.id, float(scores[i])))
        if len(out) < k and take < positive and filters.where():  # a narrow filter: fall back to a full sort
            out = [
                (self.chunks[int(i)].id, float(scores[i]))
                for i in np.argsort(-scores)
                if scores[i] > 0 and filters.admits(self.chunks[int(i)].meta)
            ][:k]
        return out


def reciprocal_rank_fusion(hits: Iterable[Hit]) -> dict[str, float]:
    """chunk id -> the sum over the dense and BM25 sides of 1 / (RRF_K + the hit's rank among ``hits``)."""
    hits = list(hits)
    fused: dict[str, float] = defaultdict(float)
    for side in ("dense", "bm25"):
        for rank, hit in enumerate(sorted(hits, key=lambda h: getattr(h, side), reverse=True), start=1):
            fused[hit.chunk_id] += 1.0 / (RRF_K + rank)
    return fused


def diversify(ranked: list[Hit], k: int) -> list[Hit]:
    """Keep the order but let no article take more than about half the slots while others wait."""
    cap = max(2, math.ceil(k / 2))
    picked: list[Hit] = []
    deferred: list[Hit] = []
    per_doc: Counter[str] = Counter()
    for hit in ranked:
        if per_doc[hit.doc_id] < cap:
            picked.append(hit)
            per_doc[hit.doc_id] += 1
        else:
            deferred.append(hit)
        if len(picked) == k:
            return picked
    return (picked + deferred)[:k]


def _of_model(table: WordTable | None, model: str) -> WordTable | None:
    """``table`` if another model did not make it (vectors of two models cannot be compared)."""
    return table if table is not None and table.model == model else None
