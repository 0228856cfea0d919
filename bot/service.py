"""The one answering function every interface calls: ``Newsbot.answer(question, history)``.

It owns the embedder, the store, the retriever and the answerer, loaded once.
The CLI and the Discord bot are thin skins over it.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.extractive import ExtractiveAnswerer
from bot.settings import Settings
from bot.types import REFUSAL, Answer, Citation, Turn
from index.embed import Embedder, SentenceTransformerEmbedder
from index.load import corpus_files
from index.search import Filters, Hit, Retriever
from index.store import ChunkStore
from index.sync import Indexer, SyncReport, rich_progress
from index.text import terms

log = logging.getLogger(__name__)

HISTORY_TURNS = 3  # earlier questions folded into a follow-up


class QuestionError(ValueError):
    """A question that cannot be asked (empty, too long); the message is for the user."""


def check_question(question: str, limit: int = 2000) -> str:
    """The question stripped, or :class:`QuestionError` saying what is wrong with it (no model needed)."""
    question = (question or "").strip()
    if not question:
        raise QuestionError("The question is empty: ask something about the articles.")
    if len(question) > limit:
        raise QuestionError(f"The question is {len(question):,} characters long; the limit is {limit:,}.")
    return question


class Newsbot:
    """Answers questions from the indexed articles, with numbered citations."""

    def __init__(
        self,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        store: ChunkStore | None = None,
        notify: Callable[[str], None] | None = None,
        auto_build: bool = True,
    ) -> None:
        self.settings = settings or Settings()
        self.embedder = embedder or SentenceTransformerEmbedder(self.settings.embed_model)
        self.store = store or ChunkStore(self.settings.data_dir, self.settings.chroma_url)
        self.indexer = Indexer(
            self.store, self.embedder, self.settings.corpus_dir, self.settings.chunk_tokens, progress=rich_progress
        )
        self._notify = notify or (lambda msg: print(msg, file=sys.stderr))
        if auto_build and self.store.count() == 0 and corpus_files(self.settings.corpus_dir):
            self._notify(f"No index yet: building it from {self.settings.corpus_dir} (first run only)...")
            report = self.indexer.sync()
            self._notify(f"Indexed {report.added} articles ({report.chunks_embedded} chunks).")
        self.retriever = Retriever(self.store, self.embedder)
        self.extractive = ExtractiveAnswerer(self.retriever)

    # -- questions ------------------------------------------------------------------
    def check_question(self, question: str) -> str:
        """The question stripped, or :class:`QuestionError` saying what is wrong with it."""
        return check_question(question, self.settings.max_question_chars)

    def search(
        self, question: str, k: int | None = None, filters: Filters | None = None, history: Sequence[Turn | str] = ()
    ) -> list[Hit]:
        """Ranked chunks for a question; earlier turns add their key terms to the keyword side."""
        question = self.check_question(question)
        recent = as_turns(history)[-HISTORY_TURNS:]
        extra = [t for turn in recent for t in terms(turn.question)]
        query = question if not recent else f"{recent[-1].question} {question}"
        return self.retriever.search(query, k or self.settings.top_k, filters, extra_terms=extra)

    def answer(self, question: str, history: Sequence[Turn | str] = (), filters: Filters | None = None) -> Answer:
        """Answer ``question`` with cited sentences; ``history`` holds the conversation's earlier turns, oldest first."""
        start = time.perf_counter()
        question = self.check_question(question)
        recent = as_turns(history)[-HISTORY_TURNS:]
        hits = self.search(question, filters=filters, history=recent)
        retrieved = time.perf_counter()
        extract = self.extractive.choose(question, hits, recent)
        done = time.perf_counter()
        timings = {
            "retrieve": round((retrieved - start) * 1000, 1),
            "answer": round((done - retrieved) * 1000, 1),
            "total": round((done - start) * 1000, 1),
        }
        if extract.refused:
            log.info("refused %r: %s", question, extract.reason)
            return Answer(question, REFUSAL, True, [], "extractive", timings, extract.reason)
        citations = [_citation(n, sentence, hit) for n, (sentence, hit) in enumerate(extract.sentences, start=1)]
        text = " ".join(f"{c.quote} [{c.n}]" for c in citations)
        return Answer(question, text, False, citations, "extractive", timings, extract.reason)

    # -- library --------------------------------------------------------------------
    def sync(self) -> SyncReport:
        """Bring the index in line with the corpus folder."""
        report = self.indexer.sync()
        self.retriever.invalidate()
        return report

    def add(self, path: Path):
        """Copy an article file into the corpus and index it; returns (article, chunk count)."""
        result = self.indexer.add_file(path)
        self.retriever.invalidate()
        return result

    def remove(self, doc_id: str) -> Path | None:
        path = self.indexer.remove(doc_id)
        self.retriever.invalidate()
        return path

    def documents(self) -> dict[str, dict]:
        self.retriever.refresh(force=True)
        return self.retriever.documents()


def as_turns(history: Sequence[Turn | str]) -> list[Turn]:
    """Earlier turns as :class:`Turn`; a bare string is an earlier question."""
    return [t if isinstance(t, Turn) else Turn(str(t)) for t in history]


def _citation(n: int, sentence: str, hit: Hit) -> Citation:
    m = hit.meta
    return Citation(
        n=n,
        doc_id=hit.doc_id,
        title=str(m.get("title", "")),
        source=str(m.get("source", "")),
        published=str(m.get("published", "")),
        url=str(m.get("url", "")),
        quote=sentence,
    )
