"""The one answering function every interface calls: ``Newsbot.answer(question, history)``.

It owns the embedder, the store, the retriever and the answerer, loaded once.
The CLI and the Discord bot are thin skins over it.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import regex

from bot import grounding
from bot.answering import Answerer, Decision
from bot.llm import LLMError, ReplyTooLong, call, make_backend
from bot.prompt import Source, answer_messages, condense_messages, is_no_answer, standalone_from_reply, strip_no_answer
from bot.settings import Settings
from bot.types import REFUSAL, Answer, Citation, Turn
from index.embed import Embedder, EncodedText, encode_in_context, make_embedder
from index.onnx_embed import OnnxEmbedder
from index.search import Filters, Hit, Retriever
from index.store import ChunkStore, vectors_missing
from index.text import terms

if TYPE_CHECKING:
    from index.sync import Added, Indexer, Removed, SyncReport

log = logging.getLogger(__name__)

HISTORY_TURNS = 3  # earlier questions folded into a follow-up


class QuestionError(ValueError):
    """A question that cannot be asked (empty, too long); the message is for the user."""


# Characters that show nothing: whitespace, controls, and Unicode's default-ignorable code points (zero-width
# space U+200B, joiners U+200C/D, word joiner U+2060, BOM U+FEFF, Hangul fillers, variation selectors, ...).
_INVISIBLE_EDGES = regex.compile(r"^[\p{White_Space}\p{Cc}\p{Default_Ignorable_Code_Point}]+|[\p{White_Space}\p{Cc}\p{Default_Ignorable_Code_Point}]+$")


def check_question(question: str, limit: int = 2000) -> str:
    """The question stripped, or :class:`QuestionError` saying what is wrong with it (no model needed).

    A question of nothing but invisible characters (zero-width spaces and the like) is empty, in the
    terminal and in Discord alike.
    """
    question = _INVISIBLE_EDGES.sub("", question or "")
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
        # The store first: an unreachable server or a damaged data dir fails in a second, before the model loads.
        self.store = store or ChunkStore(self.settings.data_dir, self.settings.chroma_url, self.settings.chroma_collection)
        self._notify = notify or (lambda msg: print(msg, file=sys.stderr))
        self.embedder = embedder or make_embedder(
            self.settings.embed_model, self.settings.onnx_cache_dir, self.settings.embed_backend, self._notify
        )
        if auto_build:
            self._first_run()
        self.retriever = Retriever(self.store, self.embedder)
        self.answerer = Answerer(self.retriever)
        self.llm = make_backend(self.settings)  # None: extractive answers only (NEWSBOT_LLM=none)

    def _first_run(self) -> None:
        """Build the index if there is none yet, once, whoever else is starting; check an existing one can answer."""
        if self.store.count() == 0:
            if not _has_articles(self.settings.corpus_dir):
                return
            # Another process may be building it right now: wait for it (saying so) rather than build it twice.
            with self.indexer.lock.hold():
                if self.store.count() == 0:
                    self._notify(f"No index yet: building it from {self.settings.corpus_dir} (first run only)...")
                    report = self.indexer.sync()
                    self._notify(f"Indexed {report.added} articles ({report.chunks_embedded} chunks).")
                    for line in report.skipped:
                        self._notify(f"skipped {line}")
            return
        from index.writelock import writer_pid

        pid = writer_pid(self.settings.data_dir)
        if pid is not None and pid != os.getpid():
            who = f"pid {pid}" if pid > 0 else "pid unknown"
            self._notify(f"Another newsbot process is writing the index ({who}); answering from what it holds now.")
        elif self.store.missing_vectors():
            raise vectors_missing(self.settings.data_dir)

    @cached_property
    def indexer(self) -> Indexer:
        """The corpus -> store syncer, made on first use: a process that only answers never imports the chunker."""
        from index.sync import Indexer, rich_progress

        return Indexer(
            self.store,
            self.embedder,
            self.settings.corpus_dir,
            self.settings.chunk_tokens,
            progress=rich_progress,
            notify=self._notify,
            write_wait=self.settings.write_wait,
            build_precision=self.settings.build_precision,
        )

    # -- questions ------------------------------------------------------------------
    def check_question(self, question: str) -> str:
        """The question stripped, or :class:`QuestionError` saying what is wrong with it."""
        return check_question(question, self.settings.max_question_chars)

    def search(
        self, question: str, k: int | None = None, filters: Filters | None = None, history: Sequence[Turn | str] = ()
    ) -> list[Hit]:
        """Ranked chunks for a question; earlier turns add their key terms to the keyword side."""
        return self.retrieve(question, k, filters, history)[0]

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        filters: Filters | None = None,
        history: Sequence[Turn | str] = (),
        focus: Sequence[str] | None = None,
    ) -> tuple[list[Hit], EncodedText]:
        """:meth:`search`, and the encoded query: its vector and its words' (the answer step compares passages with them).

        ``focus`` (default: the articles the last turn's answer quoted) are searched on their own as well.
        """
        question = self.check_question(question)
        recent = as_turns(history)[-HISTORY_TURNS:]
        extra = [t for turn in recent for t in terms(turn.question)]
        # The earlier questions say what the conversation is about: after "What share will Cove Capital control?" and
        # "And who holds the rest?", asking that again still means Cove Capital's venture (with only the last question
        # in the query, the subject was gone from the vector by the third turn).
        query = " ".join([*(turn.question for turn in recent), question])
        if focus is None:
            focus = recent[-1].cited if recent else ()
        encoded = encode_in_context(self.embedder, query)
        hits = self.retriever.search(query, k or self.settings.top_k, filters, extra_terms=extra, vector=encoded.vector, focus=focus)
        return hits, encoded

    def answer(
        self,
        question: str,
        history: Sequence[Turn | str] = (),
        filters: Filters | None = None,
        *,
        on_partial: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer ``question`` with cited sentences; ``history`` holds the conversation's earlier turns, oldest first.

        With an LLM configured, the answer is generated from the retrieved chunks and shown only if it
        passes the grounding check (else the extractive answer is, ``mode="extractive-fallback"``);
        ``on_partial`` is then called with the checked text so far while the model streams (whole
        sentences that already pass the check, markers numbered as in the final answer; it is called
        from a worker thread, so an asyncio caller should hand it to its loop with
        ``call_soon_threadsafe``). A question that retrieval cannot support is refused before any model call.
        """
        start = time.perf_counter()
        question = self.check_question(question)
        recent = as_turns(history)[-HISTORY_TURNS:]
        deadline = time.monotonic() + self.settings.llm_timeout  # every model call of this answer shares it
        query, folded = question, recent
        if self.llm is not None and recent:
            query = self._condense(question, recent, deadline) or question
            folded = [] if query != question else recent  # a standalone question replaces the term folding
        # The answerer reads a wider pool than `search` shows: with many similar articles the answering
        # sentence can rank below the top few chunks.
        # A follow-up is most likely about the articles the last answer quoted, even when the LLM rewrote it.
        focus = recent[-1].cited if recent else ()
        hits, encoded = self.retrieve(query, k=self.settings.answer_pool, filters=filters, history=folded, focus=focus)
        retrieved = time.perf_counter()
        decision = self.answerer.decide(query, hits, folded, query=encoded)
        done = time.perf_counter()

        def timings(end: float) -> dict[str, float]:
            return {
                "retrieve": round((retrieved - start) * 1000, 1),
                "answer": round((end - retrieved) * 1000, 1),
                "total": round((end - start) * 1000, 1),
            }

        if decision.refused:
            log.info("refused %r: %s", question, decision.reason)
            return Answer(question, REFUSAL, True, [], "extractive", timings(done), decision.reason, trace=decision)
        citations = _passage_citations(decision.passage)
        text = " ".join(f"{c.quote} [{c.n}]" for c in citations)
        short = decision.short_answer
        if self.llm is None:
            return Answer(question, text, False, citations, "extractive", timings(done), decision.reason, short, decision)
        fallback = Answer(question, text, False, citations, "extractive-fallback", {}, "", short, decision)
        result = self._generate(question, query, hits, decision, fallback, on_partial, deadline)
        result.timings_ms = timings(time.perf_counter())
        result.trace = decision
        if query != question and result.mode == "llm":
            result.note = f"asked as: {query}"
        return result

    # -- LLM answering --------------------------------------------------------------
    def _condense(self, question: str, history: Sequence[Turn], deadline: float) -> str | None:
        """The follow-up rewritten by the model into a standalone question, or None (then term folding is used)."""
        assert self.llm is not None
        budget = min(deadline - time.monotonic(), self.settings.llm_timeout / 2)  # leave time for the answer
        try:
            reply = call(self.llm, condense_messages(question, history), budget=budget)
        except LLMError as exc:
            log.warning("could not condense the follow-up (%s); folding in earlier terms instead", exc)
            return None
        standalone = standalone_from_reply(reply, self.settings.max_question_chars)
        if standalone is None:
            log.warning("unusable condensation %r; folding in earlier terms instead", reply[:200])
        else:
            log.info("follow-up %r asked as %r", question, standalone)
        return standalone

    def _llm_sources(self, hits: Sequence[Hit], decision: Decision) -> list[Hit]:
        """The chunks the model sees: those the extractive answer quotes, then the best-ranked others."""
        chosen: dict[str, Hit] = {}
        for _, hit in decision.passage:
            chosen.setdefault(hit.chunk_id, hit)
        for hit in hits:
            if len(chosen) >= self.settings.llm_sources:
                break
            chosen.setdefault(hit.chunk_id, hit)
        return list(chosen.values())[: max(self.settings.llm_sources, 1)]

    def _generate(
        self,
        question: str,
        query: str,
        hits: Sequence[Hit],
        decision: Decision,
        fallback: Answer,
        on_partial: Callable[[str], None] | None,
        deadline: float,
    ) -> Answer:
        """The model's answer if it passes the grounding check, else ``fallback`` with the reason in its note."""
        assert self.llm is not None
        used = self._llm_sources(hits, decision)
        sources = [
            Source(
                n,
                str(h.meta.get("title", "")),
                str(h.meta.get("source", "")),
                str(h.meta.get("published", "")),
                h.text,
            )
            for n, h in enumerate(used, start=1)
        ]
        texts = [f"{s.header()}\n{s.text}" for s in sources]
        shown = [""]

        def partial(text: str) -> None:
            # Only complete sentences that already pass the check are shown while the model writes.
            prefix = grounding.grounded_prefix(text, texts)
            if len(prefix) <= len(shown[0]):
                return
            shown[0] = prefix
            try:
                on_partial(grounding.renumber(prefix, grounding.cited_numbers(prefix)))  # type: ignore[misc]
            except Exception:
                log.exception("on_partial failed; streaming continues")

        try:
            reply = call(
                self.llm,
                answer_messages(query, sources),
                budget=deadline - time.monotonic(),
                on_text=partial if on_partial is not None else None,
            )
        except ReplyTooLong as exc:
            return _fall_back(fallback, f"LLM answer rejected: {exc}")
        except LLMError as exc:
            return _fall_back(fallback, f"LLM unavailable: {exc}")
        reply = reply.strip()
        if is_no_answer(reply):
            reply = strip_no_answer(reply)
            if not grounding.cited_numbers(reply):
                return _fall_back(fallback, "the model found no answer in the sources; showing the closest passages")
        verdict = grounding.check(reply, texts)
        if not verdict.ok:
            return _fall_back(fallback, f"LLM answer rejected: {verdict.reason}")
        text = grounding.renumber(reply, verdict.cited)
        citations = [
            _citation(new, _best_sentence(used[old - 1], reply, old), used[old - 1])
            for new, old in enumerate(verdict.cited, start=1)
        ]
        return Answer(question, text, False, citations, "llm", {}, "")

    # -- library --------------------------------------------------------------------
    # Each holds the index's writer lock; ``wait`` bounds how long it waits for another writer (default NEWSBOT_WRITE_WAIT).
    def sync(self, *, rebuild: bool = False, allow_empty: bool = False, wait: float | None = None) -> SyncReport:
        """Bring the index in line with the corpus folder (``rebuild``: re-embed everything; see :meth:`Indexer.sync`).

        It also leaves the model's ONNX export ready, so that the next cold start need not make it."""
        with self.indexer.lock.hold(wait):
            report = self.indexer.sync(rebuild=rebuild, allow_empty=allow_empty)
        self.retriever.invalidate()
        if isinstance(self.embedder, OnnxEmbedder):
            self.embedder.prepare()
        return report

    def add(self, path: Path, *, wait: float | None = None) -> Added:
        """Copy an article file into the corpus and index it (refused if its id is taken; see Indexer.add_file)."""
        with self.indexer.lock.hold(wait):
            result = self.indexer.add_file(path)
        self.retriever.invalidate()
        return result

    def remove(self, doc_id: str, *, wait: float | None = None) -> Removed:
        """Delete an article: every corpus file with its id, and its chunks (KeyError if there is none)."""
        with self.indexer.lock.hold(wait):
            result = self.indexer.remove(doc_id)
        self.retriever.invalidate()
        return result

    def documents(self) -> dict[str, dict]:
        self.retriever.refresh(force=True)
        return self.retriever.documents()


def _has_articles(corpus_dir: Path) -> bool:
    from index.load import corpus_files  # (here: the article readers, YAML among them, are for building only)

    return bool(corpus_files(corpus_dir))


def as_turns(history: Sequence[Turn | str]) -> list[Turn]:
    """Earlier turns as :class:`Turn`; a bare string is an earlier question."""
    return [t if isinstance(t, Turn) else Turn(str(t)) for t in history]


def _fall_back(fallback: Answer, reason: str) -> Answer:
    """The extractive answer, shown because the model's was not (the reason logged and kept in the note)."""
    log.warning("%s; showing the extractive answer for %r", reason, fallback.question)
    fallback.note = reason
    return fallback


def _best_sentence(hit: Hit, reply: str, n: int) -> str:
    """The chunk's sentence that best supports what the reply says with ``[n]`` (the chunk trimmed if none)."""
    said = " ".join(c.text for c in grounding.claims(reply) if n in c.cites) or reply
    wanted = set(terms(said))
    best, best_score = "", 0.0
    for line in hit.text.split("\n"):
        line = line.strip()
        if not line:
            continue
        have = set(terms(line))
        score = len(wanted & have) / (1 + 0.02 * len(have))
        if score > best_score:
            best, best_score = line, score
    if best:
        return best
    text = " ".join(hit.text.split())
    return text if len(text) <= 300 else text[:297].rsplit(" ", 1)[0] + "..."


def _passage_citations(passage: Sequence[tuple[str, Hit]]) -> list[Citation]:
    """One citation per run of adjacent sentences from one article: a core and the sentence it refers back to are one quote."""
    runs: list[tuple[list[str], Hit]] = []
    for sentence, hit in passage:
        if runs and runs[-1][1].doc_id == hit.doc_id:
            runs[-1][0].append(sentence)
        else:
            runs.append(([sentence], hit))
    return [_citation(n, " ".join(sentences), hit) for n, (sentences, hit) in enumerate(runs, start=1)]


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
