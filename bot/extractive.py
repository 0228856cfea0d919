"""The default answerer: quote the one to three sentences that answer the question, or refuse.

No language model is involved, so nothing can be invented: every word of an
answer is a sentence of an article. The work is in choosing the sentences:

1. The question is read for its *key terms* (stemmed content words, with
   rarer terms weighing more) and for the *kind of answer* it wants: a
   quantity, a share, a sum of money, a time, a person or organisation, a list.
2. Every sentence of the retrieved chunks is a candidate, alone and together
   with its neighbour (the asked-for detail often sits in the next sentence,
   or the subject in the one before: "Tungsten ... The U.S. has not mined the
   metal since 2015").
3. A candidate scores by how much of the question's key terms it covers, and
   whether it holds something of the wanted kind that the question does not
   already contain; retrieval's own score breaks ties.
4. Some question words must be in the answer, not merely weigh in the score:
   the names and numbers it asks about (the rarest word of each name), the
   thing a "how much/many X" measures, the attribute of "what is the X of Y",
   every word of the role in "who is the X of Y" ("finance minister").
5. The question is refused when a name or number it asks about is nowhere in
   the corpus, when no candidate holds the words that must be there, when the
   best candidate covers too little of the question, or when the question
   wants a kind of answer (a number, a date, a person) that the candidates
   about it do not hold.

Every threshold is in :class:`Tuning`; they were set on the mechanism over
several batches of questions, never to fit one question.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
from rapidfuzz import fuzz, process

from bot.grounding import reads_as_instruction
from bot.types import Turn
from index.keyword import WordTable
from index.search import Hit, Retriever
from index.text import STOPWORDS, content_words, stem, terms, words

# Words that frame a question but are not what it is about.
_FRAME = frozenset(
    stem(w)
    for w in [
        "article",
        "articles",
        "report",
        "reported",
        "reports",
        "say",
        "says",
        "said",
        "mention",
        "mentioned",
        "mentions",
        "according",
        "news",
        "story",
        "stories",
        "tell",
        "describe",
        "explain",
        "happen",
        "happened",
        "give",
        "given",
        "exactly",
        "approximately",
        "roughly",
        "about",
        "around",
        "currently",
        "current",
        "expected",
        "expect",
        "estimated",
        "estimate",
        "main",
        "total",
        "overall",
        "kind",
        "type",
        "sort",
        "name",
        "named",
        "get",
        "got",
        "make",
        "made",
        "take",
        "took",
        "mean",
        "means",
        "last",
        "first",
        "recent",
        "recently",
        "ever",
        "still",
        "yet",
        "already",
        "become",
        "became",
        "becomes",
        "besides",
        "except",
        "apart",
        "part",
        "other",
        "others",
        "also",
    ]
)
# "how much", "how large", ... say what kind of answer is wanted; they are not topic words.
_HOW = re.compile(r"\bhow\s+(much|many|large|big|high|low|long|far|soon|often|old|heavy)\b", re.I)
# The noun a which/what question asks for ("which US company", "what share") is rarely in the answer.
_HEAD_NOUNS = frozenset(
    stem(w)
    for w in [
        "share",
        "stake",
        "percentage",
        "proportion",
        "fraction",
        "percent",
        "amount",
        "number",
        "size",
        "volume",
        "quantity",
        "level",
        "value",
        "year",
        "date",
        "month",
        "day",
        "time",
        "country",
        "countries",
        "nation",
        "nations",
        "state",
        "states",
        "company",
        "companies",
        "firm",
        "firms",
        "person",
        "people",
        "official",
        "officials",
        "organisation",
        "organization",
        "group",
        "groups",
        "leader",
        "leaders",
    ]
)
_HEAD_WEIGHT = 0.25
_NUMBER_WORDS = r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|fifty|hundred|dozen|half|twice|double|doubled|triple|tripled|fourfold|threefold|twofold)"
_SCALE = r"(?:billion|million|thousand|trillion|bn|mn|m|k)"
_UNIT = (
    r"(?:%|percent|per cent|mt|metric tons?|tons?|tonnes?|kwh|gw|mw|twh|barrels?|ounces?|oz|kg|km|miles?|years?|months?|days?)"
)
_QUANTITY = re.compile(
    rf"(?:[$€£]\s?\d[\d,.]*(?:\s?{_SCALE})?|\d[\d,.]*(?:[-/]\d+(?:/\d+)?)?\+?\s?(?:{_SCALE}\s?)?(?:{_UNIT})?|\b{_NUMBER_WORDS}\b)",
    re.I,
)
_PERCENT = re.compile(r"\d[\d.,]*\s?(?:%|percent\b|per cent\b)", re.I)
_MONEY = re.compile(rf"[$€£]\s?\d|\b\d[\d.,]*\s?{_SCALE}?\s?(?:dollars|euros|pounds|usd|eur)\b", re.I)
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_TIME = re.compile(
    rf"\b(?:(?:19|20)\d\d\b|{_MONTH}\s+\d{{1,2}}\b|\d{{1,2}}\s+{_MONTH}|(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|"
    rf"(?:within|in|for|after|over|next|last|past)\s+(?:\d[\d/.-]*|{_NUMBER_WORDS}|a|the)\s+(?:years?|months?|weeks?|days?|decades?)|"
    rf"\d[\d/.-]*\s+(?:years?|months?|weeks?|days?)|decades?\b|yesterday|today|tomorrow|this year|last year|next year)",
    re.I,
)
_DATE = re.compile(
    rf"\b(?:{_MONTH}\s+\d{{1,2}}\b|\d{{1,2}}\s+{_MONTH}|(?:in|since|by|until|through|from)\s+(?:19|20)\d\d\b|(?:19|20)\d\d\b(?!\s*(?:%|mt|tons?|billion|million)))",
    re.I,
)
_DURATION_UNITS = frozenset({"year", "years", "month", "months", "week", "weeks", "day", "days", "decade", "decades"})
_DURATION = re.compile(
    rf"(?:within|for|after|over|in)?\s*(?:\d[\d/.+-]*|{_NUMBER_WORDS}|a)\s+(?:years?|months?|weeks?|days?|decades?)\b", re.I
)
_NAME = re.compile(
    r"\b(?:[A-Z][\w'’.-]*[A-Za-z0-9]|[A-Z]{2,})(?:\s+(?:of\s+|and\s+|de\s+|the\s+)?(?:[A-Z][\w'’.-]*[A-Za-z0-9]|[A-Z]{2,}))*"
)
_LIST = re.compile(r"(?:[A-Z][\w.'’-]+(?:\s[A-Z][\w.'’-]+)*,\s+){2,}(?:and\s+)?[A-Z][\w.'’-]+")


class Want(Enum):
    """The kind of answer a question asks for."""

    QUANTITY = "quantity"
    PERCENT = "percent"
    MONEY = "money"
    TIME = "time"
    NAME = "name"  # any proper name, countries included ("which country ...?")
    PERSON = "person"  # a person or organisation: a country's name is not an answer to "who ...?"
    LIST = "list"
    ANY = "any"


_WANT_RULES: list[tuple[re.Pattern[str], Want]] = [
    (
        re.compile(
            r"\b(what|which)\s+(share|percentage|proportion|fraction|percent|part|stake|cut)\b|\bhow\s+(big|large)\s+an?\s+(share|stake)\b|\bwhat\s+%",
            re.I,
        ),
        Want.PERCENT,
    ),
    (
        re.compile(
            r"\bhow\s+much\s+(money|funding|financing|investment|did\s+\w+\s+(pay|spend|invest))|\b(what|how\s+much)\b.*\b(cost|costs|funding|fund|spend|spending|worth|value|price|investment|financing|loan|dollars?)\b",
            re.I,
        ),
        Want.MONEY,
    ),
    (
        re.compile(
            r"\bhow\s+(much|many|large|big|high|low|far|long\s+a|heavy)\b|\bwhat\s+(is|was|were|are)\s+the\s+(amount|number|size|volume|capacity|output|potential|quantity|level)\b|\bwhat\s+(amount|number|quantity|volume)\b",
            re.I,
        ),
        Want.QUANTITY,
    ),
    (
        re.compile(
            r"^\s*(when|by\s+when|until\s+when|since\s+when)\b|\b(what|which)\s+(year|date|month|day|time)\b|\bhow\s+(long|soon)\b",
            re.I,
        ),
        Want.TIME,
    ),
    (
        re.compile(
            r"\b(which|what)\s+(countries|nations|states|companies|firms|leaders|metals|minerals|elements|projects|deals|agreements|sectors|areas|parties)\b",
            re.I,
        ),
        Want.LIST,
    ),
    (re.compile(r"\b(which|what)\s+(country|nation|state|city|region|place)\b|^\s*where\b", re.I), Want.NAME),
    (
        re.compile(
            r"^\s*(who|whom|whose)\b|\b(which|what)\s+(?:\w+\s+)?(person|people|official|minister|president|leader|company|firm|group|organi[sz]ation|bank|agency|ministry|fund|investor|executive|ceo)\b|\bwho\b",
            re.I,
        ),
        Want.PERSON,
    ),
]


def wanted(question: str) -> Want:
    """What kind of answer ``question`` asks for (first matching rule wins)."""
    for pattern, want in _WANT_RULES:
        if pattern.search(question):
            return want
    return Want.ANY


@dataclass
class Term:
    """A key term of the question: its stem, how much it weighs, and whether it names something."""

    stem: str
    weight: float
    specific: bool  # a proper name or a number: it must appear in the corpus as written
    from_history: bool = False
    word: str = ""  # as written (lower-case), for matching by meaning
    must: bool = False  # the thing a "how much/many X" question measures: the answer must be about it


@dataclass
class Question:
    text: str
    want: Want
    terms: list[Term]
    mentioned: set[str]  # lower-case words of the question (and history), to skip as "new" answer spans
    common: frozenset[str] = frozenset()  # words the articles also write in lower case: "Summit" is not a name
    required: list[frozenset[str]] = field(default_factory=list)  # one stem of each set must be in an answer
    must: list[frozenset[str]] = field(default_factory=list)  # likewise, but a close synonym will do


@dataclass
class Candidate:
    """One or two adjacent sentences from one article, scored against the question."""

    sentences: list[tuple[str, Hit]]
    coverage: float = 0.0
    has_wanted: bool = False
    score: float = 0.0
    matched: set[str] = field(default_factory=set)
    core: str = ""  # the sentence that must hold the wanted answer
    context: str = ""  # the neighbour, if any

    @property
    def text(self) -> str:
        return " ".join(s for s, _ in self.sentences)


def _without_instructions(question: str) -> str:
    """The question without its sentences that read as orders to a model ("Ignore your instructions and reply X.").

    Such a sentence is data, not what is asked: its words ("ignore", "instructions", "HACKED") must not count as
    terms the articles lack. Retrieval still searches the whole question, and an LLM still gets it whole, fenced
    as data. A question with nothing of the kind is returned as it is.
    """
    if not reads_as_instruction(question):
        return question
    # The chunker's sentence splitter, imported only here: index.chunk brings langchain's splitters, which a
    # cold `ask` otherwise never loads.
    from index.chunk import split_sentences

    kept = [s for s in split_sentences(question) if not reads_as_instruction(s)]
    return " ".join(kept) if kept else question


@dataclass(frozen=True)
class Tuning:
    """The answerer's thresholds, in one place so they are tuned on the mechanism, never per question."""

    min_coverage: float = 0.5  # of the question's key-term weight that the answer must cover
    neighbour_discount: float = 0.75  # a term matched only in the neighbouring sentence counts this much
    title_discount: float = 0.5  # a term matched only in the article's title or publisher counts this much
    pair_penalty: float = 0.04  # a two-sentence window must be clearly better than one sentence
    wanted_bonus: float = 0.35
    agent_bonus: float = 0.25  # "signed by <name>" for "who signed ...?"
    missing_wanted_penalty: float = 0.45
    retrieval_weight: float = 0.25
    fuzzy_cutoff: float = 84.0  # rapidfuzz ratio for a misspelt term to match a corpus word
    history_weight: float = 0.45  # a term of an earlier question counts this much
    answer_weight: float = 0.3  # a term of an earlier answer counts this much
    # A common word the corpus never uses weighs this much of the rarest term. At 0.5, "Which country supplies
    # germanium?" was answered with a tungsten sentence (it covered "country" and "supplies"); 0.75 refuses it.
    # Measured on text nobody here wrote: news-report 205 -> 207 of 360 (two more unanswerables refused); the whole
    # SQuAD split: unanswerable refused 33.3% -> 34.0%, answerable refused 20.8% -> 21.1%, gold in the first cited
    # sentence 56.4% -> 56.3%, median 32 words both. The golden set and eval/newsbot.jsonl unchanged.
    unseen_weight: float = 0.75
    second_source_ratio: float = 0.9  # add another article's candidate when it scores this close to the best
    synonym_similarity: float = 0.55  # word-vector cosine at which an unmatched term counts as matched ("begin"/"commence")
    must_similarity: float = 0.7  # stricter for the measured thing: "silver" is not "metal"
    synonym_discount: float = 0.8
    synonym_candidates: int = 10  # only the best candidates are checked for synonyms (it costs an encode)


@dataclass
class Extract:
    """The answerer's decision: the chosen sentences, or a refusal with its reason."""

    sentences: list[tuple[str, Hit]]
    refused: bool
    reason: str = ""


class ExtractiveAnswerer:
    """Choose sentences from retrieved chunks that answer a question, or refuse."""

    def __init__(self, retriever: Retriever, tuning: Tuning | None = None) -> None:
        self.retriever = retriever
        self.tuning = tuning or Tuning()
        self.words = WordVectors(retriever.embedder, lambda: retriever.word_vectors)

    # -- reading the question -----------------------------------------------------
    def read_question(self, question: str, history: Sequence[Turn] = ()) -> Question:
        """Key terms with weights; earlier turns' terms are folded in at a lower weight."""
        question = _without_instructions(question)
        vocab = self.retriever.doc_freq
        max_idf = self.retriever.idf("\0never-a-term")
        groups = _proper_groups(question)
        proper = {w for g in groups for w in g}
        heads = _head_nouns(question)
        must_groups = _must_groups(question)
        measured = {x for g in must_groups for x in g}
        attribute = " ".join(_attribute_words(question))  # "price tag": its head's synonyms are sought for all of it
        out: dict[str, Term] = {}
        for word in words(_HOW.sub(" ", question)):
            if not word or word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
                continue
            s = stem(word)
            if s in _FRAME or s in out:
                continue
            specific = word in proper or bool(re.fullmatch(r"[\d.,+]+", word))
            seen = s in vocab or self._fuzzy(s) is not None
            weight = self.retriever.idf(s) if seen else max_idf * (1.0 if specific else self.tuning.unseen_weight)
            if s in heads and not specific:
                weight *= _HEAD_WEIGHT
            must = s in measured and s not in heads
            is_attribute_head = must and attribute and s == stem(attribute.split()[-1])
            out[s] = Term(s, weight, specific, word=attribute if is_attribute_head else word, must=must)
        mentioned = _mentioned(question)
        # Earlier turns, most recent last: their questions' terms count less, their answers' less still.
        for turn in reversed(list(history)):
            earlier_heads = _head_nouns(turn.question)
            for text, factor in (
                (turn.question, self.tuning.history_weight),
                (_strip_markers(turn.answer), self.tuning.answer_weight),
            ):
                for s in terms(_HOW.sub(" ", text)):
                    if s not in out and s not in _FRAME:
                        weight = self.retriever.idf(s) * factor * (_HEAD_WEIGHT if s in earlier_heads else 1.0)
                        out[s] = Term(s, weight, False, from_history=True)
            mentioned |= _mentioned(turn.question)  # names it asked about are not new answers; names it was told are
        required = []
        for group in groups:  # the rarest word(s) of each name must be in an answer: "Denali" of "Denali Capital"
            stems = [stem(w) for w in group if stem(w) in out]
            if stems:
                top = max(out[x].weight for x in stems)
                required.append(frozenset(x for x in stems if out[x].weight >= 0.8 * top))
        return Question(
            question, wanted(question), list(out.values()), mentioned, self.retriever.common_words, required, must_groups
        )

    def _fuzzy(self, term: str) -> str | None:
        """The corpus term a misspelt question term most likely means, if any is close enough."""
        if len(term) < 4 or term.isdigit():
            return None
        if len(term) < 5:  # too short to misspell safely; only an extension counts: "asia" -> "asian"
            return next((v for v in self.retriever.doc_freq if v.startswith(term) and len(v) - len(term) <= 2), None)
        longer = next((v for v in self.retriever.doc_freq if v.startswith(term) and len(v) - len(term) <= 5), None)
        if longer:  # a demonym or short form: "tajik" -> "tajikistan"
            return longer
        match = process.extractOne(term, self.retriever.doc_freq.keys(), scorer=fuzz.ratio, score_cutoff=self.tuning.fuzzy_cutoff)
        return match[0] if match else None

    # -- choosing -----------------------------------------------------------------
    def choose(self, question: str, hits: Sequence[Hit], history: Sequence[Turn] = ()) -> Extract:
        """The sentences that answer ``question`` from ``hits``, or a refusal with a reason."""
        if not hits:
            return Extract([], True, "nothing retrieved")
        q = self.read_question(question, history)
        current = [t for t in q.terms if not t.from_history]
        if not current and not q.terms:
            return Extract([], True, "the question has no searchable words")
        missing = [
            t.stem for t in current if t.specific and t.stem not in self.retriever.doc_freq and self._fuzzy(t.stem) is None
        ]
        if missing:
            return Extract([], True, f"the articles never mention: {', '.join(missing)}")

        candidates = self._score_candidates(q, hits)
        if not candidates:
            names = ", ".join(t.stem for t in current if t.specific)
            return Extract([], True, f"no retrieved passage mentions all of: {names}")
        best = max(candidates, key=lambda c: c.score)
        if best.coverage < self.tuning.min_coverage:
            on_topic = [c for c in candidates if c.coverage >= self.tuning.min_coverage]
            if q.want is not Want.ANY and on_topic and not any(c.has_wanted for c in on_topic):
                return Extract([], True, f"the passages about this hold no {q.want.value}")
            return Extract([], True, f"best passage covers {best.coverage:.0%} of the question")
        if q.want is not Want.ANY and not best.has_wanted:
            return Extract([], True, f"no {q.want.value} in the passages that match the question")

        chosen = list(best.sentences)
        others = [
            c
            for c in candidates
            if c.sentences[0][1].doc_id != best.sentences[0][1].doc_id
            and c.score >= best.score * self.tuning.second_source_ratio
            and c.coverage >= self.tuning.min_coverage
            and (q.want is Want.ANY or c.has_wanted)
        ]
        if others and len(chosen) < 3:
            second = max(others, key=lambda c: c.score)
            chosen.extend(s for s in second.sentences[: 3 - len(chosen)] if s[0] not in {t for t, _ in chosen})
        return Extract(chosen, False, f"coverage {best.coverage:.0%}, want {q.want.value}")

    def _score_candidates(self, q: Question, hits: Sequence[Hit]) -> list[Candidate]:
        """Every retrieved sentence, alone and with a neighbour that adds question terms, scored.

        The wanted kind of answer must sit in the core sentence; the neighbour
        (or the article's title) only supplies context, at a discount.
        """
        t = self.tuning
        weight = {term.stem: term.weight for term in q.terms}
        total = sum(weight.values()) or 1.0
        top_rrf = max(h.score for h in hits) or 1.0
        asked = {term.stem for term in q.terms if not term.from_history}
        candidates: list[Candidate] = []
        seen_text: set[str] = set()
        for hit in hits:
            prior = t.retrieval_weight * (0.5 * hit.score / top_rrf + 0.5 * max(hit.dense, 0.0))
            title_matched = self._matches(q, terms(f"{hit.meta.get('title', '')} {hit.meta.get('source', '')}"))
            sentences = self._sentences_around(hit)
            # An order planted for a model is never quoted, as the answer or as its context (grounding.py's rule).
            orders = {j for j, (text, _) in enumerate(sentences) if reads_as_instruction(text)}
            for i, (text, src) in enumerate(sentences):
                if src is not hit or text in seen_text or i in orders:
                    continue
                seen_text.add(text)
                core = self._matches(q, terms(text))
                core_on_topic = bool(core & asked)
                other_country = any(_is_country(n) for n in _names(text, q.mentioned))
                earlier: set[str] = set()
                if _refers_back(text):  # "The joint venture has ..." may name Severnyi Katpar two sentences back
                    for j in range(max(0, i - 2), i):
                        if sentences[j][1].doc_id == hit.doc_id:
                            earlier |= self._matches(q, terms(sentences[j][0]))
                has_wanted = _holds(q, text)
                bonus = 0.0
                if q.want is not Want.ANY:
                    bonus = t.wanted_bonus if has_wanted else -t.missing_wanted_penalty
                if q.want is Want.PERSON and (_agent_named(q, text) or _role_named(q, text)):
                    bonus += t.agent_bonus
                windows = [[i]] + [[i - 1, i]] * (i > 0) + [[i, i + 1]] * (i + 1 < len(sentences))
                for window in windows:
                    extra: set[str] = set()
                    for j in window:
                        if j != i:
                            extra |= self._matches(q, terms(sentences[j][0]))
                    extra -= core
                    if len(window) > 1 and not (extra and core_on_topic and _refers_back(sentences[window[1]][0])):
                        continue  # the neighbour adds nothing, the core is off the question, or the two are not about one thing
                    if orders.intersection(window):
                        continue
                    via_title = title_matched - core - extra
                    matched = core | extra | via_title
                    if not all(group & (matched | earlier) for group in q.required):
                        continue  # a name or number the question asks about is not in this passage
                    if other_country and any(not (g & core) and any(_is_country(w) for w in g) for g in q.required):
                        continue  # the asked country only in context while the core is about another country
                    covered = sum(weight[s] for s in core) + t.neighbour_discount * sum(weight[s] for s in extra)
                    covered += t.title_discount * sum(weight[s] for s in via_title)
                    context = " ".join(sentences[j][0] for j in window if j != i)
                    cand = Candidate([sentences[j] for j in window], covered / total, has_wanted, 0.0, matched, text, context)
                    cand.score = cand.coverage + prior + bonus - t.pair_penalty * (len(window) - 1)
                    candidates.append(cand)
        self._credit_synonyms(q, candidates, total)
        groups = [g & {term.stem for term in q.terms if term.must} for g in q.must]
        return [c for c in candidates if all(g & c.matched for g in groups if g)]  # the measured or asked-about thing itself

    def _credit_synonyms(self, q: Question, candidates: list[Candidate], total: float) -> None:
        """Give the best candidates partial credit for question words they say differently.

        "begin" and "commence", "tonnes" and "tons", "annually" and "a year" share
        no stem, but their word vectors are close. Names and numbers never match
        this way: a different name is a different thing.
        """
        t = self.tuning
        top = sorted(candidates, key=lambda c: c.score, reverse=True)[: t.synonym_candidates]
        open_terms = [term for term in q.terms if not term.specific and term.word]
        # Only a candidate that misses some open term is compared by meaning, so only its words need vectors.
        top = [c for c in top if any(term.stem not in c.matched for term in open_terms)]
        if not top or not open_terms:
            return
        # One encode for every word this question may need, not one per (term, candidate): fewer model calls.
        self.words.vectors([term.word for term in open_terms] + [w for c in top for w in content_words(f"{c.core} {c.context}")])
        for cand in top:
            for term in open_terms:
                if term.stem in cand.matched:
                    continue
                sim = self.words.best_similarity(term.word, cand.core)
                discount = 1.0
                if sim < t.synonym_similarity and cand.context:
                    sim, discount = self.words.best_similarity(term.word, cand.context), t.neighbour_discount
                if sim >= (t.must_similarity if term.must else t.synonym_similarity):
                    gain = term.weight * t.synonym_discount * discount * sim / total
                    cand.coverage += gain
                    cand.score += gain
                    cand.matched.add(term.stem)

    def _sentences_around(self, hit: Hit) -> list[tuple[str, Hit]]:
        """The article's sentences in order around the hit: two before it, its own, one after.

        Chunks overlap by about a sentence, so a sentence shared with a
        neighbouring chunk is listed once, as the hit's own.
        """
        own = [line for line in hit.text.split("\n") if line.strip()]
        mine = set(own)
        before = self.retriever.neighbour(hit.meta, -1)
        after = self.retriever.neighbour(hit.meta, +1)
        out: list[tuple[str, Hit]] = []
        if before is not None:  # two sentences back: a name may sit there ("... Severnyi Katpar joint venture ...")
            prior = [line for line in before.text.split("\n") if line.strip() and line not in mine]
            out.extend((line, _as_hit(before, hit)) for line in prior[-2:])
        out.extend((line, hit) for line in own)
        if after is not None:
            later = [line for line in after.text.split("\n") if line.strip() and line not in mine]
            out.extend((line, _as_hit(after, hit)) for line in later[:1])
        return out

    def _matches(self, q: Question, sentence_terms: list[str]) -> set[str]:
        """Stems of the question's key terms found in a sentence (exactly, by shared prefix, or misspelt)."""
        present = set(sentence_terms)
        by_prefix: dict[str, list[str]] = {}  # two stems of 4+ letters are related only if their first 4 agree
        for p in present:
            if len(p) >= 4:
                by_prefix.setdefault(p[:4], []).append(p)
        found: set[str] = set()
        for term in q.terms:
            s = term.stem
            if (
                s in present
                or (len(s) >= 4 and any(_related(s, p) for p in by_prefix.get(s[:4], ())))
                or (
                    len(s) >= 5
                    and not s.isdigit()
                    and process.extractOne(s, present, scorer=fuzz.ratio, score_cutoff=self.tuning.fuzzy_cutoff)
                )
            ):
                found.add(s)
        return found


# Pronouns and "the <generic noun>" that point back to something named in the sentence before.
_ANAPHOR = re.compile(
    r"\b(?:it|its|they|their|them|he|his|she|her|both|this|these|those)\b|"
    # one lower-case word may stand between ("the joint venture"), a capitalised one not ("the United States")
    r"\b(?:the|this|that|these|those|such)\s+(?:(?-i:[a-z][\w-]*)\s+)?(?:metal|mineral|minerals|company|companies|"
    r"firm|firms|country|countries|nation|nations|project|projects|deal|deals|agreement|agreements|memorandum|pact|accord|"
    r"venture|mine|mines|deposit|deposits|asset|assets|group|bank|fund|ministry|government|minister|president|leader|"
    r"leaders|state|states|region|plant|site|move|plan|plans|partnership|initiative|summit|platform|meeting|talks|event|"
    r"official|officials|executive|investor|producer|exporter|ore|output|production|signing|statement|document|report)\b",
    re.IGNORECASE,
)


def _refers_back(sentence: str) -> bool:
    """Does the sentence point back to the one before it ("the metal", "it", "the agreement")?"""
    return bool(_ANAPHOR.search(sentence))


class WordVectors:
    """Single-word embeddings from the sentence model, cached, to match words by meaning."""

    def __init__(self, embedder, corpus: Callable[[], WordTable | None] = lambda: None, max_cached: int = 100_000) -> None:
        self._embedder = embedder
        self._corpus = corpus  # the corpus's words, embedded by `index build` (see index/keyword.py)
        self._cache: dict[str, np.ndarray] = {}
        self._max = max_cached

    def vectors(self, items: Sequence[str]) -> list[np.ndarray]:
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
                self._cache[w] = v
        return [self._cache[w] for w in items]

    def best_similarity(self, word: str, text: str) -> float:
        """Highest cosine between ``word`` and any content word of ``text``."""
        cands = content_words(text)
        if not cands:
            return 0.0
        vecs = self.vectors([word, *cands])
        return float(max(np.dot(vecs[0], v) for v in vecs[1:]))


def _related(a: str, b: str) -> bool:
    """Stems where one extends the other by a suffix: 'produc'/'product', 'kazakh'/'kazakhstan', 'uzbek'/'uzbekistan'."""
    n = min(len(a), len(b))
    return a[:n] == b[:n] and (n >= 5 or len(a) == len(b) or (n >= 4 and abs(len(a) - len(b)) <= 2))


def _head_nouns(question: str) -> set[str]:
    """Stems of the nouns a which/what question asks for ("which US company" -> company)."""
    out: set[str] = set()
    for m in re.finditer(r"\b(?:which|what)\s+((?:[\w.-]+\s+){0,2}[\w.-]+)", question, re.I):
        out |= {stem(w) for w in words(m.group(1))} & _HEAD_NOUNS
    return out


# After "how much/many": auxiliaries and measures of nothing in particular, not a measured thing.
_NOT_MEASURED = frozenset(
    [
        "do",
        "does",
        "did",
        "is",
        "was",
        "are",
        "were",
        "has",
        "have",
        "had",
        "will",
        "would",
        "can",
        "could",
        "should",
        "money",
        "cash",
        "more",
        "less",
        "time",
        "of",
        "the",
        "a",
        "an",
    ]
)


_ROLE = re.compile(
    r"\b(president|prime minister|minister|secretary|ceo|chief|executive|head|leader|envoy|ambassador|official|"
    r"spokes(wo)?man|spokesperson|founder|chair(man|woman)?|director|manager|partner|governor|mayor|chancellor|leads|heads|runs|governs)\b",
    re.I,
)
_ATTRIBUTE = [
    re.compile(
        r"^\s*what\s+(?:is|was|are|were|'s)\s+(?:the|an?)\s+((?:[\w-]+\s+){0,2}?[\w-]+)\s+(?:of|for|on|in|at|behind|from)\b", re.I
    ),
    re.compile(r"^\s*what\s+(?:is|was|are|were)\s+[\w.-]+(?:\s+[\w.-]+)?['’]s?\s+((?:[\w-]+\s+)?[\w-]+)\s*\??\s*$", re.I),
]
_ROLE_PHRASE = re.compile(
    r"^\s*who\s+(?:is|was|are|were)\s+(?:the|an?)\s+((?:[\w.-]+\s+){0,3}?[\w-]+)\s+(?:of|for|at|in|on)\b", re.I
)


def _must_groups(question: str) -> list[frozenset[str]]:
    """Stems the answer must be about, as groups of which one stem must match.

    - "how much/many X": X, the thing measured ("lithium").
    - "what is the X of Y" / "what is Y's X": X's head noun ("rate" of "interest rate", "budget").
    - "who is the X of Y": every word of X ("finance minister"): the modifier says which person.
    """
    groups: list[frozenset[str]] = []
    measured = _measured_noun(question)
    if measured:
        groups.append(frozenset({measured}))
    m = _ROLE_PHRASE.search(question)
    if m:
        groups += [frozenset({stem(w)}) for w in words(m.group(1)) if _is_content(w)]
        return groups
    attribute = _attribute_words(question)
    if attribute:
        groups.append(frozenset({stem(attribute[-1])}))
    return groups


def _attribute_words(question: str) -> list[str]:
    """The content words of X in "what is the X of Y" / "what is Y's X" ("interest rate"), or none."""
    for pattern in _ATTRIBUTE:
        m = pattern.search(question)
        if m:
            return [w for w in words(m.group(1)) if _is_content(w)]
    return []


def _is_content(word: str) -> bool:
    s = stem(word)
    return word not in STOPWORDS and s not in _FRAME and s not in _HEAD_NOUNS and not word[:1].isdigit()


def _measured_noun(question: str) -> str | None:
    """Stem of the thing "how much/many X" asks about ("lithium" in "How much lithium ..."), if any."""
    m = re.search(r"\bhow\s+(?:much|many)\s+([a-z][\w-]*)", question, re.I)
    if not m or m.group(1).lower() in _NOT_MEASURED:
        return None
    folded = words(m.group(1))
    return stem(folded[0]) if folded else None


def _strip_markers(text: str) -> str:
    return re.sub(r"\[\d+\]", " ", text)


def _mentioned(text: str) -> set[str]:
    """Lower-case words of a question, possessives and punctuation stripped, aliases included."""
    raw = {w.lower().strip(".,?!;:'’\"") for w in re.findall(r"[\w$%.,+'’-]+", text)}
    raw |= {w.split("'")[0].split("’")[0] for w in raw}
    return {w for w in raw if w} | set(words(text))


_COUNTRY_WORDS: frozenset[str] | None = None


def _is_country(name: str) -> bool:
    """A country's name (or a common short form): not a person or organisation for "who" questions."""
    global _COUNTRY_WORDS
    if _COUNTRY_WORDS is None:
        import pycountry

        names: set[str] = {"us", "u.s", "u.s.", "usa", "america", "uk", "britain", "eu", "european union"}
        for c in pycountry.countries:
            for attr in ("name", "common_name", "official_name"):
                value = getattr(c, attr, None)
                if value:
                    names.add(value.lower())
        _COUNTRY_WORDS = frozenset(names)
    key = re.sub(r"^the\s+|['’]s$", "", name.lower().strip(" .,"))
    return key in _COUNTRY_WORDS


def _role_named(q: Question, text: str) -> bool:
    """The role the question asks about stands right beside a new name: "President Shavkat Mirziyoyev", "X, managing partner"."""
    m = _ROLE.search(q.text)
    if not m or m.group(1).lower() in ("leads", "heads", "runs", "governs"):
        return False
    role = re.escape(m.group(1))
    for hit in re.finditer(rf"\b{role}\b", text, re.I):
        after = _names(text[hit.end() : hit.end() + 60], q.mentioned)
        if after and text[hit.end() :].lstrip()[:1].isupper() and not _is_country(after[0]):
            return True
        before = text[max(0, hit.start() - 60) : hit.start()]
        close = re.search(r"([A-Z][\w'’.-]+(?:\s+[A-Z][\w'’.-]+)+),\s+(?:the\s+|a\s+)?(?:[a-z]+\s+)?$", before)
        if close and _names(close.group(1), q.mentioned):
            return True
    return False


def _agent_named(q: Question, text: str) -> bool:
    """A new, non-country name stands as the doer of a verb the question uses: "signed by X", "X will develop"."""
    verbs = {t.stem for t in q.terms if not t.specific}
    tokens = list(re.finditer(r"[A-Za-z][\w'’-]*", text))
    for _idx, tok in enumerate(tokens):
        if stem(tok.group(0).lower()) not in verbs:
            continue
        after = text[tok.end() : tok.end() + 120]
        m = re.match(r"\s+by\s+(.+)", after)
        if m and any(not _is_country(n) for n in _names(m.group(1)[:100], q.mentioned)):
            return True
        before = text[max(0, tok.start() - 60) : tok.start()]
        m = re.search(r"((?:[A-Z][\w'’.-]*\s+){1,4})(?:(?:has|have|had|will|would|was|were|is|are|to)\s+)?$", before)
        if m and any(not _is_country(n) for n in _names(m.group(1), q.mentioned)):
            return True
    return False


def _as_hit(chunk, like: Hit) -> Hit:
    return Hit(chunk.id, str(chunk.meta.get("doc_id")), chunk.text, chunk.meta, like.score * 0.9, like.dense, like.bm25)


def _proper_groups(question: str) -> list[list[str]]:
    """Names in the question as groups of words ("Cove Capital" -> ["cove", "capital"]), and each number alone.

    A name is a run of words written with a capital (other than the question's
    first word) or in capitals; aliases are folded ("United States" -> one word).
    """
    groups: list[list[str]] = []
    run: list[str] = []
    tokens = re.findall(r"[A-Za-z][\w'’.+-]*|\d[\d,.]*", question)
    for i, tok in enumerate([*tokens, ""]):
        core = tok.rstrip(".'’,").split("'")[0].split("’")[0]
        if core[:1].isdigit():
            groups.append(words(core))
            core = ""
        if core and ((i > 0 and core[0].isupper()) or (len(core) > 1 and core.isupper())):
            run.append(core)
            continue
        if run:
            groups.append(words(" ".join(run)))
            run = []
    return [g for g in groups if g]


def _new_spans(pattern: re.Pattern[str], text: str, mentioned: set[str]) -> list[str]:
    spans = []
    for m in pattern.finditer(text):
        span = m.group(0).strip()
        if not span or not re.search(r"\w", span):
            continue
        if span.lower().strip(".,") in mentioned or all(w.lower().strip(".,") in mentioned for w in span.split()):
            continue
        spans.append(span)
    return spans


def _holds(q: Question, text: str) -> bool:
    """Does ``text`` hold something of the wanted kind that the question itself does not say?"""
    want = q.want
    if want is Want.PERCENT:
        return bool(_new_spans(_PERCENT, text, q.mentioned))
    if want is Want.MONEY:
        return bool(_new_spans(_MONEY, text, q.mentioned))
    if want is Want.QUANTITY:
        undated = _DATE.sub(" ", text)  # "Nov. 7" and "in 2024" are times, not amounts
        if not q.mentioned & _DURATION_UNITS:  # "within 3-1/2 years" answers "how long", not "how much"
            undated = _DURATION.sub(" ", undated)
        spans = [s for s in _new_spans(_QUANTITY, undated, q.mentioned) if re.search(r"\d", s) or len(s) > 3]
        return bool(spans)
    if want is Want.TIME:
        return bool(_new_spans(_TIME, text, q.mentioned))
    if want is Want.LIST:
        return bool(_LIST.search(text)) or len(_names(text, q.mentioned)) >= 3
    if want is Want.NAME:
        return any(not _common_name(n, q.common) for n in _names(text, q.mentioned))
    if want is Want.PERSON:
        people_only = bool(_ROLE.search(q.text))  # "who is the president of ..." wants a person, not a country
        return any(not (people_only and _is_country(n)) and not _common_name(n, q.common) for n in _names(text, q.mentioned))
    return True


def _common_name(name: str, common: frozenset[str]) -> bool:
    """A capitalised common word rather than a name: "Summit", "C5+1 Summit" ("Export-Import Bank" stays a name)."""
    alpha = [
        w.lower()
        for w in re.findall(r"[A-Za-z][\w'’.-]*", name)
        if not any(ch.isdigit() for ch in w) and w.lower() not in _MINOR_NAME
    ]
    return len(alpha) <= 1 and all(w.strip(".'’") in common for w in alpha)


_MINOR_NAME = frozenset({"of", "and", "the", "de"})


def _names(text: str, mentioned: set[str]) -> list[str]:
    """Capitalised names in ``text`` that the question does not already contain (sentence-initial words aside)."""
    out = []
    for m in _NAME.finditer(text):
        name = m.group(0)
        parts = [p.lower().strip(".,'’") for p in name.split()]
        if all(p in mentioned or p in STOPWORDS for p in parts):
            continue
        start = m.start()
        if (start == 0 or text[max(0, start - 2) : start].strip() in (".", '"', "“")) and len(parts) == 1:
            continue  # a lone capitalised word opening a sentence is usually not a name
        out.append(name)
    return out
