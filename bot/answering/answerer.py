"""The answer step: question -> candidates -> features -> score -> decision (answer or refuse, and which rule said so).

1. :func:`~bot.answering.question.analyse` reads the question: the kind of answer wanted, its
   key terms with idf weights, the names it asks about.
2. :func:`~bot.answering.candidates.candidates` lists the sentences of the retrieved chunks, alone
   and with the sentence before when they refer back; instruction-like sentences are excluded.
3. :func:`~bot.answering.features.compute` measures each candidate. The cheap features rank them
   first (the *prefilter* model), and only the best ``shortlist`` are compared with the question by
   the embedding model's vectors (the sentence-similarity feature; `index build` stores every sentence's).
4. The fitted :class:`~bot.answering.model.AnswerModel` scores each shortlisted candidate. The best
   one is refused by a gate (:data:`~bot.answering.model.GATES`: a name the articles or the passage lack),
   else quoted if its probability reaches ``answer_threshold``, else the question is refused.
5. For a question that wants a name, number or time, the best span of the quoted sentence is the
   short answer if the span model's probability reaches ``span_threshold``.

Every refusal and every answer carries the name of the rule that decided it (:class:`Decision`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import ThreadpoolController

from bot.answering.candidates import Candidate, Excluded, candidates
from bot.answering.features import ENCODED, Context, WordVectors, compute
from bot.answering.model import GATES, AnswerModel, evidence_score, gate, pick_shortlist, refusal_features, sigmoid
from bot.answering.question import Question, Vocabulary, analyse
from bot.answering.shortanswer import span_features
from bot.answering.spans import is_country
from bot.types import Turn
from index.embed import EncodedText, encode_in_context
from index.search import Hit, Retriever

# The answer step's matrices are small (a few question words x a thousand passage words): one BLAS thread does
# them in a fraction of a millisecond, while OpenBLAS's second thread, waiting for a busy core of a shared
# machine, made the same product take 200 ms (measured on this 2-core machine under load).
_BLAS = ThreadpoolController()

# The names of the rules that decide (shown by --explain and kept in an answer's note).
NOTHING_RETRIEVED = "nothing-retrieved"
NO_QUESTION_TERMS = "no-question-terms"
NO_CANDIDATE = "no-candidate"
BELOW_THRESHOLD = "below-answer-threshold"
ANSWERED = "at-or-above-answer-threshold"


@dataclass
class Decision:
    """What the answer step decided, why, and the evidence: every scored candidate, best first."""

    refused: bool
    rule: str  # one of the rule names above, or of model.GATES
    detail: str  # the figures behind the rule, for a person
    question: Question | None = None
    hits: list[Hit] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)  # scored (the shortlist), best first
    excluded: list[Excluded] = field(default_factory=list)
    passage: list[tuple[str, Hit]] = field(default_factory=list)  # the sentences to quote
    probability: float = 0.0  # the model's probability for the best candidate
    short_answer: str | None = None
    span_probability: float | None = None

    @property
    def sentences(self) -> list[tuple[str, Hit]]:
        return self.passage

    @property
    def reason(self) -> str:
        return f"{self.rule}: {self.detail}"


class Answerer:
    """Decides from retrieved chunks whether and how to answer a question (see the module docstring)."""

    def __init__(self, retriever: Retriever, model: AnswerModel | None = None) -> None:
        self.retriever = retriever
        self.model = model or AnswerModel.load()
        self.words = WordVectors(retriever.embedder, lambda: retriever.word_vectors)
        # Sentences come from the index too; one missing there (a snapshot a reader built) is encoded and kept.
        self.sentences = WordVectors(retriever.embedder, lambda: retriever.sentence_vectors, max_cached=20_000)

    @staticmethod
    def load_tables() -> None:
        """Read the tables the answer step loads on first use (pycountry's countries: 0.27 s holding the GIL).

        A long-running bot calls this before it goes online, so the first "who" question does not stall it.
        """
        is_country("")

    def vocabulary(self) -> Vocabulary:
        r = self.retriever
        return Vocabulary(r.doc_freq, len(r.chunks), r.common_words)

    def encode(self, question: str) -> EncodedText:
        """The question's vector and its pieces' vectors (what the service's retrieval passes in, made here without it)."""
        return encode_in_context(self.retriever.embedder, question)

    def featurize(
        self, question: str, hits: Sequence[Hit], history: Sequence[Turn] = (), query: EncodedText | None = None
    ) -> tuple[Question, list[Candidate], list[Excluded]]:
        """The question read, and every candidate with its cheap features (all but sentence similarity).

        ``query`` is the encoded query retrieval ran (a follow-up's earlier questions, then ``question``); without
        it the question is encoded here.
        """
        vocab = self.vocabulary()
        q = analyse(question, vocab, history)
        query = query if query is not None else self.encode(question)
        # The question's words as its own context reads them: in a follow-up's query, the part after the earlier turns.
        own = query.words_in_context([t.word for t in q.terms if not t.history], max(query.text.rfind(question), 0))
        cands, excluded = candidates(hits, self.retriever.neighbour, self.words.near)
        with _BLAS.limit(limits=1, user_api="blas"):
            compute(q, cands, Context(vocab.doc_freq, vocab.max_weight, self.words, own))
        return q, cands, excluded

    def shortlist(self, cands: list[Candidate]) -> list[Candidate]:
        """The candidates worth encoding: the prefilter model's best ``shortlist`` (all of them if that many or fewer)."""
        model = self.model
        if model.prefilter is None or len(cands) <= model.shortlist:
            return list(cands)
        for c in cands:
            c.score = model.prefilter.score(c.features)
        keep = pick_shortlist([c.score for c in cands], [gate(c.features) is None for c in cands], model.shortlist)
        return [cands[i] for i in keep]

    def score_candidates(
        self, question: str, hits: Sequence[Hit], history: Sequence[Turn] = (), query: EncodedText | None = None
    ) -> tuple[Question, list[Candidate], list[Excluded]]:
        """The question read, and the shortlisted candidates scored by the answer model, best first."""
        query = query if query is not None else self.encode(question)
        q, cands, excluded = self.featurize(question, hits, history, query)
        cands = self.shortlist(cands)
        self.sentence_similarity(cands, query.vector)
        for c in cands:
            c.score = self.model.passage.score(c.features)
        cands.sort(key=lambda c: -c.score)
        return q, cands, excluded

    def sentence_similarity(self, cands: list[Candidate], vector: np.ndarray) -> None:
        """Compare the candidates' core sentences, and pairs as a whole, with the query's vector (the index holds
        every sentence's vector; a pair's is the normalised sum of its two)."""
        if not cands or not set(ENCODED) & set(self.model.passage.names):
            return
        sentences = list(dict.fromkeys(s for c in cands for s, _ in c.passage))
        vectors = dict(zip(sentences, self.sentences(sentences), strict=True))
        query = np.asarray(vector, dtype=np.float32)
        for c in cands:
            c.features["sentence_similarity"] = float(vectors[c.core] @ query)
            whole = np.sum([vectors[s] for s, _ in c.passage], axis=0)
            c.features["passage_similarity"] = float(whole @ query) / max(float(np.linalg.norm(whole)), 1e-9)

    def decide(
        self, question: str, hits: Sequence[Hit], history: Sequence[Turn] = (), query: EncodedText | None = None
    ) -> Decision:
        """Answer or refuse ``question`` from ``hits``, naming the rule that decided (``query``: see :meth:`featurize`)."""
        hits = list(hits)
        if not hits:
            return Decision(True, NOTHING_RETRIEVED, "retrieval found no chunk")
        q, cands, excluded = self.score_candidates(question, hits, history, query)
        common = dict(question=q, hits=hits, candidates=cands, excluded=excluded)
        if not q.asked:
            return Decision(True, NO_QUESTION_TERMS, "the question has no word to search for", **common)
        if not cands:
            return Decision(True, NO_CANDIDATE, f"no sentence may be quoted ({len(excluded)} excluded)", **common)
        # The best candidate the gates pass ("This year's Summit ... includes ..." with the sentence before it that
        # names the summit asked about, rather than the same sentence alone); none passing refuses.
        passing = [c for c in cands if gate(c.features) is None]
        if not passing:
            rule = gate(cands[0].features) or NO_CANDIDATE
            return Decision(True, rule, self._gate_detail(rule, q, cands[0]), **common)
        best = passing[0]
        p = self.answer_probability(passing)
        t = self.model.answer_threshold
        if p < t:
            return Decision(True, BELOW_THRESHOLD, f"best passage p={p:.2f} < answer_threshold {t:.2f}", probability=p, **common)
        decision = Decision(
            False, ANSWERED, f"best passage p={p:.2f} >= answer_threshold {t:.2f}", passage=list(best.passage), probability=p, **common
        )
        self._short_answer(q, best, decision)
        return decision

    @staticmethod
    def _gate_detail(rule: str, q: Question, best: Candidate) -> str:
        if rule == "name-not-in-articles":
            unseen = ", ".join(t.word for t in q.asked if t.name and not t.seen)
            return f"{GATES[rule]} ({unseen})"
        if rule == "name-not-in-passage":
            return f"{GATES[rule]}: no shortlisted passage holds them all (the best holds {best.features['names_found']:.0%})"
        return f"{GATES.get(rule, rule)}: so does every shortlisted passage"

    def answer_probability(self, ranked: list[Candidate]) -> float:
        """How likely the best candidate answers the question: the refusal model's probability (or the passage model's)."""
        if self.model.refusal is None:
            return sigmoid(ranked[0].score)
        evidence = [evidence_score(self.model.passage, c.features) for c in ranked]
        return sigmoid(self.model.refusal.score(refusal_features(evidence, ranked[0].features)))

    def _short_answer(self, q: Question, best: Candidate, decision: Decision) -> None:
        model = self.model
        feats = span_features(q, best, decision.probability)
        if feats is None or model.span is None:
            return
        ps = sigmoid(model.span.score(feats))
        decision.span_probability = ps
        if ps >= model.span_threshold:
            decision.short_answer = best.spans[0][0].text
            decision.detail += f"; short answer p={ps:.2f} >= span_threshold {model.span_threshold:.2f}"
        else:
            decision.detail += f"; no short answer: p={ps:.2f} < span_threshold {model.span_threshold:.2f}"
