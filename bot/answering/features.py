"""Named features of a candidate passage: the evidence the answer model weighs.

Each feature is a float with a name; :data:`FEATURES` lists them in the order the weights
file uses, with what each measures. They are computed the same way when the model is fitted
(bench/fit_answerer.py) and when a question is answered, so a weight means one thing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bot.answering.candidates import Candidate, refers_back
from bot.answering.question import Question, Term, Want, corpus_spelling, same_country
from bot.answering.spans import is_country, new_spans
from index.facts import Span
from index.keyword import WordTable
from index.text import STOPWORDS, alias_stretches, content_words, fold_letters, stem, terms, words

FEATURES: dict[str, str] = {
    "sentence_similarity": "cosine of the question's and the core sentence's vectors (the embedding model)",
    "passage_similarity": "cosine of the question's vector and the passage's: for a pair, the normalised sum of its two sentences' vectors (\"It will produce ...\" with the sentence naming what \"it\" is)",
    "chunk_similarity": "cosine of the question's and the retrieved chunk's vectors",
    "retrieval_rank": "1 / (1 + the chunk's place in the retrieval)",
    "coverage": "idf-weighted share of the question's terms (a follow-up's earlier turns at less weight) in the core sentence",
    "context_coverage": "idf-weighted share found only in the neighbour sentence or the article's title",
    "soft_coverage": "idf-weighted closeness (word vectors) of the terms found nowhere to the core's words",
    "context_match": "idf-weighted closeness of each question word, as the question's context reads it (the model's vectors of its pieces), to the passage's closest word",
    "names_found": "share of the names and numbers the question asks about that the passage holds",
    "names_in_core": "share of the names and numbers the question asks about that the core sentence itself holds",
    "names_whole": "share of the names asked about whose every word the passage holds (Juniper Holdings is not Juniper Capital)",
    "missing_rarest": "weight of the rarest question term the passage lacks, over the corpus's largest weight",
    "rarest_found": "weight of the rarest question term the core holds, over the corpus's largest weight",
    "thing_missing": "the question counts a thing (how much nickel) or asks who holds an office (the president of) that the passage never names",
    "thing_match": "how surely the passage names that thing: 1 written out (or no thing asked), else the closest word's cosine",
    "unmatched_rarest": "weight of the rarest common-word question term the passage lacks with no word near it in meaning either",
    "question_negated_only": "the question is negated (not, never, no ...) and the core is not: it asks about what did not happen",
    "core_negated_only": "the core is negated and the question is not",
    "negated_differently": "question and core are both negated, but not the same words (not ... proven, not ... classified)",
    "opposite_word": "a question word is the opposite of a passage word: a negating prefix (informal/formal, non-Muslim/Muslim) or an antonym of degree, direction or order (most/least, north/south), and the passage lacks it",
    "unseen": "idf-weighted share of the question's common words the corpus never uses",
    "unseen_name": "share of the names and numbers the question asks about that the corpus never uses",
    "bm25": "BM25 of the core sentence for the question's terms, over the BM25 of a sentence holding them all",
    "wanted_span": "the question wants a name/number/time and the core holds one it does not already say",
    "wanted_missing": "the question wants a name and the core holds none",
    "wanted_missing_figure": "the question wants a number, amount, share, time or duration and the core holds none",
    "list_for_plural": "the question asks for several (which countries, who are) and the core holds that many new spans of its kind",
    "span_proximity": "1 / (1 + words between that span and the nearest question term in the core)",
    "span_country_for_who": "the question asks who, and that span is a country (a country rarely answers who)",
    "span_adjacent": "that span stands right beside a question word, a function word at most between (signed by X, X will develop)",
    "novelty": "share of the core's content words that the question does not use",
    "length": "log of the core's length in words",
    "pair": "the passage is the core with the sentence before it",
    "refers_back": "the core points back (it, they, this ...) and stands alone",
    "history_coverage": "idf-weighted share of earlier turns' terms found in the passage",
    "conversation_article": "a follow-up, and the passage is from an article the conversation's last answer quoted",
}
"""Every feature the model may weigh, in weights-file order, with what it measures."""

ENCODED = ("sentence_similarity", "passage_similarity")
"""Features read from sentence vectors: the answerer computes them for the prefilter's shortlist only."""

BM25_K1 = 1.5  # the usual BM25 constants (bm25s' defaults), over sentences instead of chunks
BM25_B = 0.75
SOFT_MATCH = 0.5  # word-vector cosine at which a passage word stands in for a question term (general, not fitted)
SENTENCE_WORDS = 25.0  # a typical sentence's length in terms, for BM25's length normalisation


@dataclass
class Context:
    """What features need besides the question and the candidate."""

    doc_freq: dict[str, int]
    max_weight: float
    word_vectors: Callable[[Sequence[str]], np.ndarray] | None = None  # rows for words, unit length
    # The question's words read in its own context (index.embed.EncodedText.words_in_context); a word missing here
    # (an embedder without piece vectors) is read alone, from ``word_vectors``.
    question_in_context: dict[str, np.ndarray] = field(default_factory=dict)


class TermMatcher:
    """Which of the question's terms a text holds: the same stem, one extending the other, the corpus spelling, or
    the same country ("French" in the question, "France" in the text)."""

    def __init__(self, question: Question, doc_freq: dict[str, int]) -> None:
        self.question = question
        self.countries = {t.stem: same for t in question.terms if (same := same_country(t.stem))}
        self.aliases: dict[str, str] = {}
        for t in question.terms:
            if t.stem not in doc_freq and (spelling := t.spelling or corpus_spelling(t.stem, doc_freq)):
                self.aliases[t.stem] = spelling  # "tajikstan" is matched as "tajikistan"
        self._found: dict[str, frozenset[str]] = {}  # a sentence is read alone and in a pair: matched once

    def found(self, text: str) -> frozenset[str]:
        if (known := self._found.get(text)) is None:
            known = self._found[text] = frozenset(self._match(text))
        return known

    def _match(self, text: str) -> set[str]:
        present = set(terms(text))
        by_prefix: dict[str, list[str]] = {}
        for p in present:
            if len(p) >= 4:
                by_prefix.setdefault(p[:4], []).append(p)
        out: set[str] = set()
        for t in self.question.terms:
            s = self.aliases.get(t.stem, t.stem)
            if s in present or (len(s) >= 4 and any(_related(s, p) for p in by_prefix.get(s[:4], ()))) or self.countries.get(t.stem, set()) & present:
                out.add(t.stem)
        return out


def _related(a: str, b: str) -> bool:
    """Stems where one extends the other by a suffix: 'produc'/'product', 'kazakh'/'kazakhstan'."""
    n = min(len(a), len(b))
    return a[:n] == b[:n] and (n >= 5 or len(a) == len(b) or (n >= 4 and abs(len(a) - len(b)) <= 2))


def compute(question: Question, cands: list[Candidate], ctx: Context) -> None:
    """Fill every candidate's ``features`` (and its wanted-kind ``spans``, best first)."""
    matcher = TermMatcher(question, ctx.doc_freq)
    asked = question.asked
    # A follow-up's earlier turns count in coverage at their lower weight ("And who holds the rest?" is about
    # the joint venture asked about before); for a question on its own, ``scored`` is ``asked``.
    scored = question.terms
    total = sum(t.weight for t in scored) or 1.0
    history = [t for t in question.terms if t.history]
    history_total = sum(t.weight for t in history) or 1.0
    unseen = sum(t.weight for t in asked if not t.seen and not t.name) / question.weight
    names_asked = [t for t in asked if t.name]
    unseen_name = sum(not t.seen for t in names_asked) / len(names_asked) if names_asked else 0.0
    ideal_bm25 = total * (BM25_K1 + 1) / (1 + BM25_K1) or 1.0
    title_found: dict[str, set[str]] = {}
    negated = _negated(question.text)
    question_negates = _negated_words(question.text)
    question_forms = _word_forms(question.text)
    asks_last = bool(_LAST.search(question.text))
    last = frozenset(t.stem for t in question.terms if _LAST.fullmatch(t.word))
    # Each word of the asked thing, and whether the articles use it anywhere (then it must be there as written).
    thing = {t: t in ctx.doc_freq or corpus_spelling(t, ctx.doc_freq) is not None for t in question.thing}
    soft = _SoftMatcher(question, cands, ctx.word_vectors, ctx.question_in_context) if ctx.word_vectors else None
    ranked_by_core: dict[tuple[str, frozenset[str]], list[tuple[Span, float]]] = {}
    for c in cands:
        title = f"{c.hit.meta.get('title', '')}"
        if title not in title_found:
            title_found[title] = matcher.found(title)
        # A core that points back ("The agreement was signed by ...") given with the sentence it points to says what
        # that sentence names: the pair's words count as the core's.
        core = matcher.found(c.text if c.pair and refers_back(c.core) else c.core)
        if last and _NOT_SINCE.search(c.core):
            core |= last  # "has not mined it since 2015" says when X last mined it, in its own words
        extra = (matcher.found(c.context) | title_found[title]) - core if c.pair else title_found[title] - core
        everywhere = core | extra
        f = c.features
        for name in ENCODED:
            f[name] = 0.0  # set for the shortlist only, by the answerer (it reads the index's sentence vectors)
        f["chunk_similarity"] = max(c.hit.dense, 0.0)
        f["retrieval_rank"] = 1.0 / (1 + c.rank)
        f["coverage"] = sum(t.weight for t in scored if t.stem in core) / total
        f["context_coverage"] = sum(t.weight for t in scored if t.stem in extra) / total
        near = soft.nearest(c) if soft else {}  # each common-word term's closest passage word (cosine)
        f["soft_coverage"] = soft.coverage(near, everywhere) / total if soft else 0.0
        f["context_match"] = soft.context_match(c) if soft else 0.0
        groups = question.name_groups
        held = [[_holds(s, everywhere, c.text) for s in g] for g in groups]  # each name's words in the passage
        f["names_found"] = sum(map(any, held)) / len(groups) if groups else 1.0
        f["names_in_core"] = sum(any(_holds(s, core, c.core) for s in g) for g in groups) / len(groups) if groups else 1.0
        # A name counts as found above when one of its words is there (a surname, a short form); this asks for all of
        # them, which in news tells "Juniper Holdings" from the "Juniper Capital" of the same story.
        f["names_whole"] = sum(map(all, held)) / len(groups) if groups else 1.0
        lacking = [t.weight for t in asked if t.stem not in everywhere and not t.head]
        f["missing_rarest"] = max(lacking, default=0.0) / (ctx.max_weight or 1.0)
        f["rarest_found"] = max((t.weight for t in asked if t.stem in core), default=0.0) / (ctx.max_weight or 1.0)
        # "How much palladium ..." over a passage about lithium: the topic word is missing and nothing near it stands
        # in (0.29), where a paraphrase ("financing" for "loan", 0.76) has a close word. A word the articles
        # themselves use must be there as written: "copper" is 0.74 from "metals", a passage on "rare metals" is
        # not about copper, and an article that says "copper" elsewhere would say it where it gives the amount.
        named = {t: t in everywhere or _named_in(t, f"{c.text} {title}") for t in thing}
        f["thing_missing"] = float(any(not named[t] and (seen or near.get(t, 0.0) < SOFT_MATCH) for t, seen in thing.items()))
        # Passing that gate on a near word is weaker evidence than the word itself ("silver" is 0.60 from "metal").
        f["thing_match"] = min((1.0 if named[t] else max(0.0, near.get(t, 0.0)) for t in thing), default=1.0)
        unmatched = [t.weight for t in asked if not t.name and not t.head and t.stem not in everywhere and near.get(t.stem, 0.0) < SOFT_MATCH]
        f["unmatched_rarest"] = max(unmatched, default=0.0) / (ctx.max_weight or 1.0)
        # Two features, not one "mismatch": a negated question met by a plain sentence ("What is not contained in X?"
        # by "Y is contained in X") asks about what the passage does not say, while a negated sentence met by a plain
        # question is everyday news ("the bank has not said when"), and one weight for both blurred them.
        core_negated = _negated(c.core) and not (asks_last and _NOT_SINCE.search(c.core))
        f["question_negated_only"] = float(negated and not core_negated)
        f["core_negated_only"] = float(core_negated and not negated)
        f["negated_differently"] = float(negated and core_negated and not question_negates & _negated_words(c.core))
        f["opposite_word"] = float(_opposed(question_forms, _word_forms(c.text)))
        f["unseen"] = unseen
        f["unseen_name"] = unseen_name
        f["bm25"] = _bm25(scored, c.core, core) / ideal_bm25
        if question.want.typed:
            if (ranked := ranked_by_core.get((c.core, core))) is None:
                ranked = ranked_by_core[(c.core, core)] = _ranked_spans(question, c.core, core)
            c.spans = ranked
            f["wanted_span"] = float(bool(ranked))
            figure = "name" not in question.want.span_kinds
            f["wanted_missing"] = float(not ranked and not figure)
            f["wanted_missing_figure"] = float(not ranked and figure)
            f["span_proximity"] = ranked[0][1] if ranked else 0.0
            f["list_for_plural"] = float(question.plural and len(ranked) >= 2)
            f["span_adjacent"] = float(any(p >= 0.5 for _, p in ranked))
            f["span_country_for_who"] = float(bool(ranked) and question.want is Want.PERSON and is_country(ranked[0][0].text))
        else:
            f["wanted_span"] = f["wanted_missing"] = f["wanted_missing_figure"] = f["span_proximity"] = f["span_adjacent"] = 0.0
            f["list_for_plural"] = 0.0
            f["span_country_for_who"] = 0.0
        core_words = content_words(c.core)
        f["novelty"] = sum(w not in question.mentioned for w in core_words) / len(core_words) if core_words else 0.0
        f["length"] = math.log(1 + len(c.core.split()))
        f["pair"] = float(c.pair)
        f["refers_back"] = float(not c.pair and refers_back(c.core))
        f["history_coverage"] = sum(t.weight for t in history if t.stem in matcher.found(c.text)) / history_total if history else 0.0
        f["conversation_article"] = float(c.hit.doc_id in question.focus)


_NEGATORS = frozenset({"not", "never", "no", "none", "neither", "nor", "without", "cannot", "t"})  # "t": isn't, don't
# Verbs that negate what follows their "to" (English's negative implicatives): "refused to lend" and "failed to reach"
# say that it did not happen, as "did not lend" does. ("Declined to" is left out: prices decline to a low.)
_NOT_DONE = frozenset(
    {"fail", "fails", "failed", "failing", "refuse", "refuses", "refused", "refusing", "neglect", "neglects", "neglected",
     "neglecting", "forget", "forgets", "forgot", "forgotten", "forgetting"}
)  # fmt: skip
# The same words in running text; "n't" is matched where it ends a word ("isn't"), as the tokenizer's "t" is.
_NEGATION = re.compile(
    r"\b(?:" + "|".join(sorted(_NEGATORS - {"t"})) + r")\b|n't\b|\b(?:" + "|".join(sorted(_NOT_DONE)) + r")\s+to\b", re.IGNORECASE
)


# "When did X last mine it?" is answered by "X has not mined it since 2015": a negation that says when, not one
# that contradicts the question.
_LAST = re.compile(r"\blast\b", re.IGNORECASE)
_NOT_SINCE = re.compile(r"(?:\b(?:not|never)\b|n't\b)[^.;]*?\bsince\b", re.IGNORECASE)


def _negated(text: str) -> bool:
    return bool(_NEGATION.search(text))


NEGATION_SCOPE = 2  # content words after a negator that it negates ("not yet been proven": "yet", "proven")


def _negated_words(text: str) -> frozenset[str]:
    """Stems of the content words right after each negator of a text: what it says is not so."""
    tokens = words(text)
    out: set[str] = set()
    for i, w in enumerate(tokens):
        if w in _NEGATORS or (w in _NOT_DONE and tokens[i + 1 : i + 2] == ["to"]):
            scope = [t for t in tokens[i + 1 : i + 6] if t not in STOPWORDS and t not in _NEGATORS and len(t) > 1]
            out.update(stem(t) for t in scope[:NEGATION_SCOPE])
    return frozenset(out)


# English's negating prefixes: a question that asks about the "informal" or "non-Muslim" thing is not answered by a
# sentence about the formal or Muslim one, though the words match but for the prefix.
_NEGATING_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non")
_MIN_BASE = 4  # letters of the unprefixed word: "inform" is no negated "form" ("unit" no negated "it")
# Antonyms of degree, direction and order: two words that cannot describe one fact ("the most costly" is not "the
# least costly"). Converse pairs are left out on purpose: "X sold it to Y" does say who bought it, and "after A, B"
# says what came before B.
_ANTONYMS = [
    ("more", "less"), ("most", "least"), ("higher", "lower"), ("highest", "lowest"), ("larger", "smaller"),
    ("largest", "smallest"), ("bigger", "smaller"), ("biggest", "smallest"), ("greater", "lesser"), ("increase", "decrease"),
    ("maximum", "minimum"), ("majority", "minority"), ("first", "last"), ("earliest", "latest"), ("oldest", "newest"),
    ("north", "south"), ("east", "west"), ("northern", "southern"), ("eastern", "western"), ("upper", "lower"),
    ("above", "below"), ("inside", "outside"), ("internal", "external"), ("success", "failure"), ("accept", "reject"),
    ("strong", "weak"), ("stronger", "weaker"), ("strongest", "weakest"), ("hard", "soft"), ("rich", "poor"),
    ("private", "public"), ("positive", "negative"), ("true", "false"), ("legal", "illegal"), ("begin", "end"),
    ("start", "end"), ("start", "finish"), ("begin", "finish"), ("start", "complete"), ("begin", "complete"),
    ("open", "close"), ("rise", "fall"), ("profit", "loss"), ("support", "oppose"), ("allow", "forbid"), ("allow", "prohibit"),
    ("ancient", "modern"), ("cheap", "expensive"),
]  # fmt: skip
_ANTONYM_WORDS = frozenset(w for pair in _ANTONYMS for w in pair)  # "more" and "most" are stopwords elsewhere
_OPPOSITE: dict[str, set[str]] = {}
for _a, _b in _ANTONYMS:
    _OPPOSITE.setdefault(stem(_a), set()).add(stem(_b))
    _OPPOSITE.setdefault(stem(_b), set()).add(stem(_a))


def _word_forms(text: str) -> frozenset[str]:
    """Stems of a text's content words and antonym words, a word after "non" ("non-state") as one stem with it."""
    out = set()
    previous = ""
    for w in words(text):
        if previous == "non" and w != "non":
            out.add(stem("non" + w))
        elif w != "non" and (w in _ANTONYM_WORDS or (w not in STOPWORDS and len(w) > 2 and not w[0].isdigit())):
            out.add(stem(w))
        previous = w
    return frozenset(out)


def _opposed(question: frozenset[str], passage: frozenset[str]) -> bool:
    """Does the question hold a word whose opposite the passage holds, and not the word itself (or the reverse)?"""
    if any(w not in passage and _OPPOSITE[w] & passage for w in question if w in _OPPOSITE):
        return True
    return _prefixed_in(question, passage) or _prefixed_in(passage, question)


def _prefixed_in(negated: frozenset[str], plain: frozenset[str]) -> bool:
    """A stem of ``negated`` that is a stem of ``plain`` with a prefix, where ``plain`` lacks the prefixed one."""
    for form in negated - plain:
        for prefix in _NEGATING_PREFIXES:
            if form.startswith(prefix) and len(form) - len(prefix) >= _MIN_BASE and _prefixed(form, prefix, plain):
                return True
    return False


def _prefixed(form: str, prefix: str, plain: frozenset[str]) -> bool:
    # Stems are compared as stems: "unestablish" is "un" + "establish", and "disapprov" is "dis" + "approv".
    # ("informal" stems to "inform": its base is found as the stem whose prefixed form stems to it, "formal").
    base = form[len(prefix) :]
    return base in plain or any(p.startswith(base) and stem(prefix + p) == form for p in plain)


def _named_in(s: str, text: str) -> bool:
    """Is the stem ``s`` (or one extending it by a suffix) a word of ``text``?"""
    words_ = set(terms(text))
    return s in words_ or _in_found(s, words_)


def _holds(name_word: str, found: set[str], text: str) -> bool:
    """Whether a passage (its matched question terms ``found``, its ``text``) holds a word of an asked name.

    A one-letter word (the O of "big O notation", the B of "Series B") is no term: it is looked for in the text,
    as a capital standing alone ("O(n)", "P = NP"). So is another form of an asked number, which the question does not
    say ("eighteenth" for "the 1700s", "ii" for "World War 2": question.py's ``_other_forms``).
    """
    if len(name_word) == 1 and name_word.isalpha():
        return re.search(rf"(?<![\w'’]){re.escape(name_word.upper())}(?![\w'’])", text) is not None
    return name_word in found or _in_found(name_word, found) or name_word in words(text)


def _in_found(s: str, found: set[str]) -> bool:
    return any(_related(s, x) for x in found if len(s) >= 4 and len(x) >= 4 and s[:4] == x[:4])


def _bm25(asked: list[Term], text: str, found: set[str]) -> float:
    counts: dict[str, int] = {}
    toks = terms(text)
    for tok in toks:
        counts[tok] = counts.get(tok, 0) + 1
    norm = BM25_K1 * (1 - BM25_B + BM25_B * len(toks) / SENTENCE_WORDS)
    score = 0.0
    for t in asked:
        if t.stem in found:
            tf = counts.get(t.stem, 1)
            score += t.weight * tf * (BM25_K1 + 1) / (tf + norm)
    return score


_WORD = re.compile(r"[^\W_][\w'’-]*")


def _ranked_spans(question: Question, sentence: str, found: set[str]) -> list[tuple[Span, float]]:
    """New spans of the wanted kind in ``sentence``, each with its proximity to the question's terms, closest first."""
    found_spans = new_spans(sentence, question.want.span_kinds, question.mentioned, question.common)
    if not found_spans:
        return []
    positions = []  # word offsets of the question's terms in the sentence
    tokens = list(_WORD.finditer(sentence))
    for i, tok in enumerate(tokens):
        word = tok.group(0).lower()
        if word in STOPWORDS:
            continue
        s = stem(fold_letters(word.strip("'’")))
        if s in found or any(_related(s, f) for f in found if len(f) >= 4 and len(s) >= 4 and s[:4] == f[:4]):
            positions.append(i)
    # A term the alias table folds from several words ("chief executive" is "ceo") stands where those words do.
    for start, end, folded in alias_stretches(sentence):
        if found.intersection(folded):
            positions += [i for i, tok in enumerate(tokens) if tok.start() < end and tok.end() > start]
    ranked = []
    for span in found_spans:
        first = next((i for i, t in enumerate(tokens) if t.end() > span.start), len(tokens))
        last = max(first, next((i for i, t in enumerate(tokens) if t.start() >= span.end), len(tokens)) - 1)
        if positions:
            gap = min(_gap(tokens, p, first, last) for p in positions)
            proximity = 1.0 / (1 + gap)
        else:
            proximity = 0.0
        ranked.append((span, proximity))
    ranked.sort(key=lambda x: -x[1])
    return ranked


def _gap(tokens: list[re.Match[str]], p: int, first: int, last: int) -> int:
    """Words between position ``p`` and the span ``first..last``, function words aside ("signed by X": 0)."""
    if first <= p <= last:
        return 0
    between = tokens[p + 1 : first] if p < first else tokens[last + 1 : p]
    return sum(t.group(0).lower() not in STOPWORDS for t in between)


class _SoftMatcher:
    """How close the question's unmatched terms come, by word vectors, to a passage's words: "begin" ~ "commence"."""

    def __init__(self, question: Question, cands: list[Candidate], vectors, in_context: dict[str, np.ndarray]) -> None:
        self.terms = [t for t in question.terms if not t.name]
        # The question's own words, names too (the passage's words never start with a digit: no figures).
        self.own = [t for t in question.terms if not t.history and not t.word[:1].isdigit()]
        self.vocab: dict[str, int] = {}
        for c in cands:
            for w in content_words(c.text):
                self.vocab.setdefault(w, len(self.vocab))
        self.sims = self.own_sims = None
        if self.vocab and (self.terms or self.own):
            w = np.asarray(vectors(list(self.vocab)))
            if self.terms:
                self.sims = np.asarray(vectors([t.word for t in self.terms])) @ w.T  # terms x words
            if self.own:
                alone = [t.word for t in self.own if t.word not in in_context]
                alone_vectors = dict(zip(alone, np.asarray(vectors(alone)), strict=True)) if alone else {}
                read = np.stack([in_context.get(t.word, alone_vectors.get(t.word)) for t in self.own])
                self.own_sims = read @ w.T  # own words x passage words

    def nearest(self, c: Candidate) -> dict[str, float]:
        """Each common-word question term's closest cosine to a word of the passage."""
        if self.sims is None:
            return {}
        cols = [self.vocab[w] for w in content_words(c.text) if w in self.vocab]
        if not cols:
            return {}
        best = self.sims[:, cols].max(axis=1)
        return {t.stem: float(b) for t, b in zip(self.terms, best, strict=True)}

    def context_match(self, c: Candidate) -> float:
        """Weighted mean over the question's own words of the closest cosine to a word of the passage.

        The question's side is read in context ("bank" in "Which bank lent the money?" is a lender, not a river
        bank), from the run that gave the query its vector; the passage's words are each read alone (the index's
        word table), which costs nothing more at answer time.
        """
        if self.own_sims is None:
            return 0.0
        cols = [self.vocab[w] for w in content_words(c.text) if w in self.vocab]
        if not cols:
            return 0.0
        best = self.own_sims[:, cols].max(axis=1)
        weights = np.array([t.weight for t in self.own])
        return float(best @ weights / (weights.sum() or 1.0))

    def coverage(self, near: dict[str, float], found: set[str]) -> float:
        """Weighted closeness of the terms not in ``found``, from :meth:`nearest`'s cosines."""
        return sum(t.weight * max(0.0, near[t.stem]) for t in self.terms if t.stem not in found and t.stem in near)


class WordVectors:
    """Vectors of words (or sentences) from the sentence model, cached; the corpus's come from the index (index/keyword.py)."""

    def __init__(self, embedder, corpus: Callable[[], WordTable | None] = lambda: None, max_cached: int = 100_000) -> None:
        self._embedder = embedder
        self._corpus = corpus
        self._cache: dict[str, np.ndarray] = {}
        self._max = max_cached

    def near(self, nouns: Sequence[str], words: Sequence[str], at: float = SOFT_MATCH) -> bool:
        """Is one of ``nouns`` within cosine ``at`` of one of ``words`` ("metal" and "tungsten": 0.53)?"""
        if not nouns or not words:
            return False
        return bool((self(list(nouns)) @ self(list(words)).T).max() >= at)

    def __call__(self, items: Sequence[str]) -> np.ndarray:
        todo = [w for w in dict.fromkeys(items) if w not in self._cache]
        table = self._corpus() if todo else None
        if table is not None:
            for w in todo:
                if (v := table.get(w)) is not None:
                    self._cache[w] = v
            todo = [w for w in todo if w not in self._cache]
        if todo:
            if len(self._cache) + len(todo) > self._max:
                self._cache.clear()
            for w, v in zip(todo, self._embedder.embed_documents(todo), strict=False):
                self._cache[w] = np.asarray(v, dtype=np.float32)
        return np.stack([self._cache[w] for w in items]) if items else np.zeros((0, 1), dtype=np.float32)
