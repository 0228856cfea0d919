"""Candidates: the sentences of the retrieved chunks, alone and with the sentence before when they refer back to it.

"The U.S. has not mined the metal since 2015" answers nothing about tungsten on its own; with
the sentence before it ("Tungsten ...") it does. The sentence that must hold the answer is the
candidate's *core*; the neighbour only supplies what the core points back to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from index.facts import Span
from index.search import Hit
from index.store import StoredChunk
from index.text import STOPWORDS, chunk_lines, content_words, reads_as_instruction, stem, terms

# A sentence that points back to the one before it: a pronoun, or a demonstrative before a noun (general English).
_REFERS_BACK = re.compile(
    r"\b(?:it|its|they|their|them|he|his|him|she|her|both|these|those)\b|\b(?:this|that|such|the\s+same)\s+[a-z][\w-]*",
    re.IGNORECASE,
)


# A sentence that opens with a definite description of something common ("The agreement was signed by ...").
_OPENS_DEFINITE = re.compile(r"(?:The|This|That|These|Those|Such)\s+(?:[a-z][\w-]*\s+){0,2}?[a-z][\w-]*\s+(?:was|were|is|are|has|have|had|will|would|can|could)\b")
_DEFINITE = re.compile(r"\b(?:the|these|both)\s+([a-z][\w-]{2,})(?:\s+([a-z][\w-]{2,}))?\b", re.IGNORECASE)


Near = Callable[[Sequence[str], Sequence[str]], bool]
"""``near(nouns, words)``: is one of ``nouns`` close in meaning to one of ``words`` (word vectors)?"""


def refers_back(sentence: str, previous: str = "", near: Near | None = None) -> bool:
    """Does the sentence point back to something named before it ("It was ...", "this agreement", "the
    agreement" when the sentence before speaks of an agreement, or "the metal" after "Tungsten ..." when
    ``near`` finds the two words close in meaning)?"""
    if _REFERS_BACK.search(sentence) or _OPENS_DEFINITE.match(sentence):
        return True
    if not previous:
        return False
    before = set(terms(previous))
    # The word after "the" and the one after that ("the metal", "the joint venture"): either may be the noun.
    nouns = [w.lower() for m in _DEFINITE.finditer(sentence) for w in m.groups() if w and w.lower() not in STOPWORDS]
    if any(stem(n) in before for n in nouns):
        return True
    own = set(terms(sentence))
    # A definite noun the sentence does not name itself may stand for a word of the sentence before.
    others = [w for w in content_words(previous) if stem(w) not in own]
    return bool(near and nouns and others and near(nouns, others))


@dataclass
class Candidate:
    """One passage that may answer the question: a core sentence, maybe with the sentence before it."""

    passage: list[tuple[str, Hit]]  # the sentences to quote, in article order, each with the chunk it belongs to
    core: str  # the sentence that must hold the answer
    hit: Hit  # the retrieved chunk the core belongs to
    rank: int  # that chunk's place in the retrieval (0 = first)
    features: dict[str, float] = field(default_factory=dict)
    score: float = 0.0  # the model's log-odds that this passage answers the question
    spans: list[tuple[Span, float]] = field(default_factory=list)  # new spans of the wanted kind in the core, each
    # with its proximity to the question's terms, closest first

    @property
    def text(self) -> str:
        return " ".join(s for s, _ in self.passage)

    @property
    def context(self) -> str:
        """The passage without its core (the neighbour, if any)."""
        return " ".join(s for s, _ in self.passage if s != self.core)

    @property
    def pair(self) -> bool:
        return len(self.passage) > 1


@dataclass
class Excluded:
    """A sentence that may never be quoted, and the rule that says so."""

    sentence: str
    rule: str


def candidates(
    hits: Sequence[Hit], neighbour: Callable[[dict, int], StoredChunk | None], near: Near | None = None
) -> tuple[list[Candidate], list[Excluded]]:
    """Every sentence of ``hits`` (each once, under its best-ranked chunk), alone and with its antecedent.

    ``neighbour(meta, offset)`` gives the chunk before/after a hit in its article, so that the
    sentence before a chunk's first line can be the antecedent. A sentence that reads as an
    instruction to a model is never a candidate, nor an antecedent (rule ``instruction-sentence``).
    ``near`` (word vectors) lets "the metal" refer back to "Tungsten" (see :func:`refers_back`).
    """
    out: list[Candidate] = []
    excluded: list[Excluded] = []
    seen: set[str] = set()
    for rank, hit in enumerate(hits):
        own = chunk_lines(hit.text)
        before: list[tuple[str, Hit]] = []
        prev = neighbour(hit.meta, -1)
        if prev is not None:
            mine = set(own)
            lines = [line for line in chunk_lines(prev.text) if line not in mine]
            before = [(line, _as_hit(prev, hit)) for line in lines[-1:]]
        sentences = before + [(line, hit) for line in own]
        for i, (text, src) in enumerate(sentences):
            if src is not hit or text in seen:
                continue
            seen.add(text)
            if reads_as_instruction(text):
                excluded.append(Excluded(text, "instruction-sentence"))
                continue
            out.append(Candidate([(text, hit)], text, hit, rank))
            if i > 0 and refers_back(text, sentences[i - 1][0], near) and not reads_as_instruction(sentences[i - 1][0]):
                out.append(Candidate([sentences[i - 1], (text, hit)], text, hit, rank))
    return out, excluded


def _as_hit(chunk: StoredChunk, like: Hit) -> Hit:
    """A neighbouring chunk dressed as a hit (for its citation), ranked with the hit it borders."""
    return Hit(chunk.id, str(chunk.meta.get("doc_id")), chunk.text, chunk.meta, like.score, like.dense, like.bm25)
