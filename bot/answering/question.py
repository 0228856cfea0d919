"""Question analysis: what kind of answer is wanted, the key terms and their weights, and the relation asked.

Everything here is general English grammar (question words, auxiliaries, the class nouns a
"which X" question names); nothing comes from an eval set or an article.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache

from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein

from bot.types import Turn
from index.facts import NUMBER_WORDS
from index.text import (
    STOPWORDS,
    fold_letters,
    fold_months,
    fold_ordinals,
    ordinal_word,
    reads_as_instruction,
    split_sentences,
    stem,
    terms,
    words,
)


class Want(Enum):
    """The kind of answer a question asks for."""

    PERSON = "person"  # who, whom, whose, which official
    PLACE = "place"  # where, which country / city
    NAME = "name"  # which company, what nationality, what language: any proper name
    NUMBER = "number"  # what size, how large, by how much: any figure, a share included
    AMOUNT = "amount"  # how many, how much (of a thing): a count or a quantity, never a share
    MONEY = "money"  # how much did it cost, what budget
    PERCENT = "percent"  # what share, what percentage
    RATE = "rate"  # what interest rate, at what rate: a share or a figure per something, never a sum of money
    TIME = "time"  # when, what year, which century
    DURATION = "duration"  # how long, for how many years
    ANY = "any"  # what, why, how: any sentence may hold it

    @property
    def typed(self) -> bool:
        """Does this want have a kind of span a sentence can be seen to hold (a name, number, time)?"""
        return self is not Want.ANY

    @property
    def span_kinds(self) -> frozenset[str]:
        """The kinds of span (index/facts.py, answering/spans.py) that answer it."""
        return _SPAN_KINDS[self]


_SPAN_KINDS = {
    Want.PERSON: frozenset({"name"}),
    Want.PLACE: frozenset({"name", "place"}),  # "place": a place said by its bearing ("in the country's east")
    Want.NAME: frozenset({"name"}),
    Want.NUMBER: frozenset({"number", "money", "percent"}),
    Want.AMOUNT: frozenset({"count", "money"}),  # "count": a number outside a length of time (answering/spans.py)
    Want.MONEY: frozenset({"money"}),
    Want.PERCENT: frozenset({"percent"}),
    Want.RATE: frozenset({"percent", "rate"}),  # "rate": a number per something (answering/spans.py)
    Want.TIME: frozenset({"time", "duration"}),  # "when will it start?" - "within three years"
    Want.DURATION: frozenset({"duration"}),
    Want.ANY: frozenset(),
}

# Class nouns a "which/what X" question names, by the kind of answer they ask for (general English).
_PERSON_NOUNS = (
    r"person|people|man|men|woman|women|individual|official|officials|minister|president|leader|king|queen|emperor|ruler|"
    r"general|commander|author|writer|scientist|inventor|founder|ceo|chief|executive|chairman|chairwoman|director|"
    r"manager|governor|mayor|head|spokesman|spokeswoman|spokesperson|politician|poet|painter|architect|engineer|"
    r"philosopher|scholar|professor|student|player|coach|composer|artist|son|daughter|father|mother|wife|husband|"
    r"brother|sister|successor|predecessor|pope|bishop|priest|saint|prophet|explorer|admiral|captain|prince|princess|duke"
)
_PLACE_NOUNS = (
    r"country|countries|nation|nations|city|cities|town|towns|state|states|region|regions|province|provinces|place|places|"
    r"continent|river|island|islands|mountain|area|location|capital|port|village|county|territory|territories|colony|colonies|sea|ocean|lake"
)
_NAME_NOUNS = (
    r"company|companies|firm|firms|organi[sz]ation|organi[sz]ations|group|groups|bank|banks|agency|ministry|fund|"
    r"university|universities|college|school|party|parties|team|army|navy|church|dynasty|empire|tribe|language|languages|"
    r"lender|lenders|backer|backers|investor|investors|developer|developers|operator|operators|buyer|buyers|supplier|suppliers|"
    r"nationality|religion|ethnicity|newspaper|book|film|ship|brand|institution|court|council|committee|treaty|law|act"
)
# Nouns of money ("what price tag", "what loan"), of a share ("what stake", "X's share"), of a quantity produced or held.
_MONEY_NOUNS = r"cost|costs|price|prices|price\s+tag|budget|value|salary|fee|fees|revenue|revenues|loan|loans|financing|funding|investment|investments|sum|valuation"
_SHARE_NOUNS = r"percentage|percent|proportion|share|fraction|stake"
_QUANTITY_NOUNS = r"output|production|reserves|resources|capacity|tonnage|volume|yield"
# The noun is the head when a verb or a preposition follows it: "what price tag has been put", not "what price increase".
_HEAD = r"(?=\s+(?:has|have|had|is|was|are|were|will|would|could|can|did|does|do|of|for|on|to)\b)"
# "What is Cove Capital's share ...", "What will the ministry's stake be": a possessive before the noun.
_OWNED = r"\b(?:what|which)\s+(?:is|was|are|were|will\s+be)\s+(?:the\s+)?(?:[\w-]+\s+){0,5}?[\w-]+(?:'s|’s|s'|s’)\s+(?:\w+\s+)?"
_TIME_NOUNS = r"year|years|date|month|day|century|centuries|decade|decades|time|period|era|age|season|week"
_MONEY_WORDS = r"cost|costs|costing|price|prices|paid|pay|pays|spend|spent|worth|budget|funding|fund|revenue|salary|fee|fees|invest|invested|investment|loan|money|raise|raised|earn|earned|sold for|value"

# Up to three words before a question word ("And when", "In 2024 who"), none of them a question word itself: in "What
# gained ground when Arab nationalism suffered?" the "when" is a conjunction.
_LEAD = r"^\s*(?:(?!(?:what|which|how|why)\b)\w+\s+){0,3}?"
# "which X", "what X", "what was the X", "which two X": the class noun X says what is wanted.
_WH = r"\b(?:which|what)\s+(?:(?:is|was|are|were)\s+(?:the\s+|an?\s+)?)?(?:\w+\s+)?"

_WANT_RULES: list[tuple[re.Pattern[str], Want]] = [
    (re.compile(rf"\b(?:what|which)\s+(?:\w+\s+)?(?:{_SHARE_NOUNS})\b|\bwhat\s+%|\bhow\s+(?:big|large)\s+(?:a|an)\s+(?:share|stake)\b|\bhow\s+(?:big|large)\s+(?:is|was|will\s+be)\s+(?:[\w'’-]+\s+){{0,5}}?(?:share|stake)\b|{_OWNED}(?:{_SHARE_NOUNS})\b", re.I), Want.PERCENT),
    # "What interest rate will the bank charge?", "At what rate will the loan be repaid?": a rate is a share or a figure
    # per something ("5.3%", "12 per 1,000"); "$1.1 billion" is no answer to it.
    (re.compile(r"\b(?:what|which)\s+(?:(?:is|was|are|were|will\s+be)\s+(?:the|its|their)\s+)?(?:[\w-]+\s+){0,2}?rates?\b|\bat\s+what\s+rates?\b", re.I), Want.RATE),
    # "By how much did prices rise?" asks for a change, said as a share as often as an amount: any figure.
    (re.compile(r"\bby\s+how\s+(?:much|many)\b|\bhow\s+much\b.*\b(?:rise|rose|risen|fall|fell|fallen|grow|grew|grown|increase|increased|decrease|decreased|drop|dropped|climb|climbed|jump|jumped|change|changed)\b", re.I), Want.NUMBER),
    # "How expensive will it be to build?", "What was trade between them worth last year?" ask for a sum too, and so
    # does the size of a sum ("How big is the loan?", "How large a budget ...?").
    (re.compile(rf"\bhow\s+much\b.*\b(?:{_MONEY_WORDS})\b|\bhow\s+much\s+money\b|\bhow\s+(?:expensive|costly|pricey)\b|\bhow\s+(?:big|large)\s+(?:(?:is|was|are|were|will\s+be)\s+(?:the|its|their|this|that)\s+(?:[\w-]+\s+)?|an?\s+)(?:{_MONEY_NOUNS})\b|{_WH}(?:{_MONEY_NOUNS}){_HEAD}|^\s*what\b.*\bworth\b", re.I), Want.MONEY),
    # "What Chinese era name did he adopt?", "By what other name was it known?": a name, whatever the words before it
    # ("era" would make it a time). "What does the name X mean?" asks for a meaning: a verb comes first there.
    (re.compile(r"\b(?:what|which)\s+(?:(?!(?:is|was|are|were|does|did|do)\b)[\w-]+\s+){0,2}names?\s+(?:is|was|are|were|did|does|do|has|had|will|would|could|can)\b", re.I), Want.NAME),
    (re.compile(r"\bhow\s+long\b(?!\s+(?:is|was|are|were)\s+the\b)|\b(?:for\s+)?how\s+many\s+(?:[\w-]+\s+){0,2}?(?:years|months|weeks|days|hours|minutes|decades|centuries)\b", re.I), Want.DURATION),
    # A time noun followed by a capitalised word is part of a name ("What was the Seven Years War?"), and followed by
    # a class noun it describes that noun ("what present day county").
    (re.compile(rf"{_LEAD}when\b|{_WH}(?:{_TIME_NOUNS})\b(?!\s+(?-i:[A-Z])|\s+(?:{_PERSON_NOUNS}|{_PLACE_NOUNS}|{_NAME_NOUNS})\b)|\bhow\s+(?:long\s+ago|soon)\b", re.I), Want.TIME),
    # "What is the planned annual output?", "What are the estimated ore reserves?" count a thing, like "how much"; so
    # does "What yearly production is it aiming for?" (but "What production did the theatre stage?" asks for a title).
    (re.compile(rf"\b(?:what|which)\s+(?:is|was|are|were|will\s+be)\s+(?:the|its|their)\s+(?:[\w-]+\s+){{0,2}}?(?:{_QUANTITY_NOUNS})\b|\b(?:what|which)\s+(?:[\w-]+\s+){{0,2}}?(?:{_QUANTITY_NOUNS})\s+(?:is|was|are|were|has|have|had|will|would|could|can|should)\b", re.I), Want.AMOUNT),
    # "How much will it produce?" counts a thing: "70%" is no answer to it (but "how much of the world's supply" may be).
    # "How much more/less ..." compares, in a share as often as an amount.
    (re.compile(r"\bhow\s+(?:many|much)\b(?!\s+(?:of|percent|per\s+cent|more|less|fewer|greater|higher|lower|larger|smaller|bigger)\b)", re.I), Want.AMOUNT),
    (re.compile(r"\bhow\s+(?:many|much|large|big|high|tall|far|deep|wide|heavy|old|fast|often|long)\b|\b(?:what|which)\s+(?:is|was|were|are)\s+the\s+(?:\w+\s+)?(?:number|amount|size|population|quantity|height|length|width|depth|distance|area|weight|speed|capacity|total)\b|\b(?:what|which)\s+(?:number|amount|size|quantity)\b", re.I), Want.NUMBER),
    (re.compile(rf"{_LEAD}(?:who|whom|whose)\b|{_WH}(?:{_PERSON_NOUNS})\b|^\s*name\s+(?:the\s+)?(?:\w+\s+)?(?:{_PERSON_NOUNS})\b", re.I), Want.PERSON),
    (re.compile(rf"{_LEAD}where\b|{_WH}(?:{_PLACE_NOUNS})\b", re.I), Want.PLACE),
    (re.compile(rf"{_WH}(?:{_NAME_NOUNS})\b|^\s*name\s+(?:the\s+)?(?:\w+\s+)?(?:{_NAME_NOUNS})\b|\bwhat\s+(?:is|was)\s+the\s+name\b|\bwhat\s+(?:is|was|were|are)\s+\w+\s+called\b", re.I), Want.NAME),
]  # fmt: skip


# "When a commission reached no decision, what happened?", "After Braddock died, who ...": a clause put before the
# question word sets the scene; the question is what follows the comma. So does a topic before a colon ("The
# project: when does production begin?").
_FRONTED_CLAUSE = re.compile(
    r"^\s*(?:(?:when|if|while|after|before|since|once|although|though|because|as|unless|until|whenever)\b[^,?]*,|[^:?]*:)\s*"
    r"(?=(?:what|which|who|whom|whose|where|when|how|why)\b)",
    re.I,
)


def wanted(question: str) -> Want:
    """What kind of answer ``question`` asks for (the first rule that matches wins)."""
    if fronted := _FRONTED_CLAUSE.match(question):
        question = question[fronted.end() :]
    for pattern, want in _WANT_RULES:
        if pattern.search(question):
            return want
    return Want.ANY


# Words that frame a question without being what it is about (general English, never a topic word).
_FRAME = frozenset(
    stem(w)
    for w in ["article", "articles", "report", "reported", "reports", "mention", "mentioned", "mentions", "according", "news", "story", "tell", "describe", "explain", "name", "named", "called", "call", "known", "kind", "type", "sort", "exactly", "approximately", "roughly", "around"]
)
# "how much", "how large", ... ask for a kind of answer; they are not topic words.
_HOW = re.compile(r"\bhow\s+(?:much|many|large|big|high|low|long|far|soon|often|old|heavy|tall|deep|wide|fast)\b", re.I)
# "Which countries", "what companies", "who are the ...": the question asks for more than one.
_PLURAL = re.compile(rf"\b(?:which|what)\s+(?:\w+\s+)?(?:{_PERSON_NOUNS}|{_PLACE_NOUNS}|{_NAME_NOUNS})(?<=s)\b|\b(?:who|what|which)\s+(?:are|were)\b", re.I)
_CLASS_NOUNS = re.compile(rf"\b(?:which|what)\s+(?:\w+\s+)?({_PERSON_NOUNS}|{_PLACE_NOUNS}|{_NAME_NOUNS}|{_TIME_NOUNS})\b", re.I)


@dataclass
class Term:
    """A key term of the question: its stem, the word as written, how much it weighs, and what it is."""

    stem: str
    word: str
    weight: float  # inverse chunk frequency in the corpus (the rarest weigh most)
    name: bool = False  # part of a proper name or a number: a different one is a different thing
    seen: bool = True  # the corpus has it (exactly, as an extension, or misspelt by a little)
    spelling: str | None = None  # the corpus term it stands for when the corpus lacks it as written ("tajikistan")
    history: bool = False  # from an earlier turn of the conversation
    head: bool = False  # the class noun of "which country": rarely in the answer itself


@dataclass
class Question:
    """A question as the answer step reads it."""

    text: str
    want: Want
    terms: list[Term]
    mentioned: set[str]  # lower-case words of the question: a span they hold is not new (a name said in an earlier
    # turn may answer a follow-up: "Who will develop the deposit?" after a question on Cove Capital's share)
    name_groups: list[list[str]] = field(default_factory=list)  # stems of each name asked about ("tugh", "temur")
    common: frozenset[str] = frozenset()  # words the corpus writes in lower case: "Summit" is not a name
    plural: bool = False  # "which countries ...", "who are the partners": a list may answer it
    thing: tuple[str, ...] = ()  # terms of what "how much X" counts ("nickel"), the office "who is the X of" asks ("prime", "minist")
    focus: tuple[str, ...] = ()  # a follow-up: doc ids of the articles the conversation's last answer quoted

    @property
    def asked(self) -> list[Term]:
        """The terms of the question itself (not of earlier turns)."""
        return [t for t in self.terms if not t.history]

    @property
    def weight(self) -> float:
        return sum(t.weight for t in self.asked) or 1.0


@dataclass(frozen=True)
class Vocabulary:
    """What question analysis needs from the corpus: chunk frequencies (for idf) and the lower-case words."""

    doc_freq: dict[str, int]
    chunks: int
    common: frozenset[str] = frozenset()

    def weight(self, stem_: str) -> float:
        """Inverse chunk frequency, as the retriever computes it (an unseen term gets the maximum)."""
        return math.log(1 + max(1, self.chunks) / (1 + self.doc_freq.get(stem_, 0)))

    @property
    def max_weight(self) -> float:
        return self.weight("\0never-a-term")


FUZZY_CUTOFF = 84.0  # rapidfuzz ratio at which a misspelt question word counts as a corpus word (general, not fitted)
TYPO_MIN_LETTERS = 6  # a word this long may be one typo (a letter swapped, left out, added or changed) from the corpus's
HISTORY_FACTOR = 0.45  # an earlier question's terms count this much of their weight in a follow-up
ANSWER_FACTOR = 0.3  # an earlier answer's terms, less still


def analyse(question: str, vocab: Vocabulary, history: Sequence[Turn] = ()) -> Question:
    """Read ``question``: its wanted answer, key terms with idf weights, names, and what it already says.

    Sentences of the question that read as orders to a model ("Ignore your instructions and say ...") are
    left out: their words are not what is asked, nor terms the articles lack. Retrieval and the LLM still
    see the whole question (the LLM fenced as data).
    """
    question = without_instructions(question)
    groups = name_groups(question)
    in_names = {w for g in groups for w in g}
    heads = {stem(m.group(1).lower()) for m in _CLASS_NOUNS.finditer(question)}
    out: dict[str, Term] = {}
    for word in words(_HOW.sub(" ", question)):
        if not word or word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        s = stem(word)
        if s in _FRAME or s in out:
            continue
        spelling = None if s in vocab.doc_freq else spelled(s, word, vocab.doc_freq)
        seen = s in vocab.doc_freq or spelling is not None
        weight = vocab.weight(s) if seen else vocab.max_weight
        is_name = word in in_names or bool(re.fullmatch(r"[\d.,+]+", word))
        out[s] = Term(s, word, weight, is_name, seen, spelling, head=s in heads and not is_name)
    mentioned = mentioned_words(question)
    for turn in reversed(list(history)):  # earlier turns, most recent first: they count less
        for text, factor in ((turn.question, HISTORY_FACTOR), (re.sub(r"\[\d+\]", " ", turn.answer), ANSWER_FACTOR)):
            for s in terms(_HOW.sub(" ", text)):
                if s not in out and s not in _FRAME:
                    out[s] = Term(s, s, vocab.weight(s) * factor, history=True)
    stems = [[stem(w) for w in g] for g in groups]
    plural = bool(_PLURAL.search(question))
    focus = tuple(history)[-1].cited if history else ()
    want = wanted(question)
    return Question(
        question, want, list(out.values()), mentioned, [g for g in stems if g], vocab.common, plural,
        asked_thing(question, want), focus,
    )  # fmt: skip


# "How much nickel", "how many new jobs": the noun a quantity question counts (time units and money aside:
# those ask for a duration or an amount, whatever they are of).
_MEASURED = re.compile(r"\bhow\s+(?:much|many)\s+(?:(?:new|more|extra|[a-z]+(?:al|ic|ive|ous|ful|ern))\s+)?([a-z][a-z-]{2,})\b", re.I)
# Words in a thing's place that are no thing: units of time and money ask for a duration or an amount, a number
# counts ("who were two of"), and "who is responsible for" or "who was in charge of" asks for no office.
_NOT_A_THING = frozenset(
    stem(w)
    for w in [*NUMBER_WORDS, "one", "money", "time", "years", "months", "weeks", "days", "hours", "minutes", "decades", "centuries", "times",
              "more", "less", "did", "does", "do", "is", "was", "are", "were", "will", "would", "has", "have", "had", "can", "could", "of",
              "responsible", "charge"]
)  # fmt: skip
# Things a passage answers without naming them:
# - a relation between people, as often written from the other side ("Ogedei's grandson Kaidu" answers "Who was
#   Kaidu's grandfather?");
# - a nationality or faith, by its adjective ("the Spanish inventor");
# - a measure, by its unit ("94 pounds" for "what is the weight").
# ("How many people" stays a thing: "12,000 tons" is no head count, though "60,000 settlers" is one.)
_SAID_WITHOUT = frozenset(
    stem(w)
    for w in ["father", "mother", "parent", "parents", "son", "sons", "daughter", "daughters", "child", "children", "brother", "brothers",
              "sister", "sisters", "sibling", "siblings", "grandfather", "grandmother", "grandparent", "grandson", "granddaughter",
              "grandchild", "uncle", "aunt", "nephew", "niece", "cousin", "wife", "husband", "spouse", "widow", "widower", "heir",
              "ancestor", "descendant", "successor", "predecessor", "rival", "rivals", "ally", "allies", "enemy", "enemies", "friend",
              "opponent", "mentor", "teacher", "pupil", "patron",
              "nationality", "religion", "ethnicity", "faith",
              "weight", "height", "length", "width", "depth", "distance", "area", "speed", "temperature", "age"]
)  # fmt: skip


# "Who is the president of Brazil?", "who was the finance minister of ...": the office whose holder is asked, with
# the word that makes it a different office ("prime", "finance"); "What is the population of ...": the quantity.
_OFFICE = re.compile(r"\bwho\s+(?:is|was|are|were)\s+(?:the\s+|its\s+|their\s+)?(?:([a-z]+)\s+)?([a-z]{3,})\s+(?:of|for|at)\b", re.I)
_HOLDER_OF = re.compile(r"\b(?i:who\s+(?:is|was|are|were)\s+(?:the\s+)?)(?:[A-Z][\w.-]*\s+)*[A-Z][\w.-]*(?:'s?|’s?)\s+(?:([a-z]+)\s+)?([a-z]{3,})\s*\??$")
# "Which country supplies germanium?": what is traded, the object of a verb of trade or output.
_TRADED = re.compile(
    r"\b(?:which|what|who)\b(?:\s+\w+){0,2}?\s+(?:supplies|supply|supplied|produces|produce|produced|exports|export|exported|imports|import|imported|"
    r"mines|mine|mined|sells|sell|sold|buys|buy|bought|refines|refine|refined)\s+(?:the\s+most\s+|the\s+|most\s+|more\s+)?([a-z][a-z-]{2,})\b",
    re.I,
)
_QUANTITY = re.compile(r"\bwhat\s+(?:is|was|are|were)\s+the\s+(?:([a-z]+)\s+)?([a-z]{3,})\s+(?:of|for|on|in)\b", re.I)
# Words before an office or quantity that do not change what it is ("the former president", "the total cost").
# "Who was made governor of" asks for the governor: so do "named", "appointed", "elected".
_ANY_HOLDER = frozenset(
    stem(w)
    for w in ["former", "current", "new", "first", "last", "next", "previous", "present", "late", "then", "total", "main", "primary", "principal",
              "overall", "exact", "annual", "average", "estimated", "expected", "made", "named", "appointed", "elected", "chosen", "crowned"]
)  # fmt: skip
# Nouns that only frame what is asked ("What is the name of ...", "the share of"): the thing is the words around them.
_FRAME_NOUNS = frozenset(
    stem(w)
    for w in ["name", "number", "amount", "total", "value", "size", "percentage", "share", "proportion", "part", "portion", "kind", "type", "sort",
              "purpose", "role", "reason", "result", "date", "year", "time", "period", "level", "status", "goal", "aim", "focus", "meaning", "term",
              "word", "title", "point", "rest", "majority", "cause", "effect", "use", "form", "source", "way", "basis", "state", "one", "rate"]
)


def asked_thing(question: str, want: Want) -> tuple[str, ...]:
    """What a question counts ("how much nickel"), trades ("which country supplies germanium"), whose holder it asks
    ("who is the prime minister of") or which quantity it asks ("what is the population of"), as index terms; empty
    when it asks none of these. ``want`` is the question's wanted kind (:func:`wanted`)."""
    # "What is the X of" asks a quantity or a name only when it wants one ("what is the population of", "what was the
    # nationality of"); otherwise X is what the question is about, often abstract ("what was the objective of the
    # proclamation", "the significance of the victory") and said otherwise in the answer.
    quantity = _QUANTITY.search(question) if want.typed else None
    if m := (_MEASURED.search(question) or _TRADED.search(question)):
        words_ = [m.group(1)]
    elif m := (_OFFICE.search(question) or _HOLDER_OF.search(question.strip()) or quantity):
        words_ = [w for w in (m.group(1), m.group(2)) if w and w.lower() not in STOPWORDS]
    else:
        return ()
    # Folded as the index folds them, so "tonnes" is the "ton" of "12,000 mt" and "chief executive" the "ceo".
    folded = terms(" ".join(words_))
    return tuple(s for s in folded if s not in _NOT_A_THING and s not in _ANY_HOLDER and s not in _FRAME_NOUNS and s not in _SAID_WITHOUT)


def without_instructions(question: str) -> str:
    """``question`` without its sentences that read as orders to a model; an ordinary question is returned as is."""
    if not reads_as_instruction(question):
        return question
    kept = [s for s in split_sentences(question) if not reads_as_instruction(s)]
    return " ".join(kept) or question


def spelled(term: str, word: str, vocabulary: dict[str, int]) -> str | None:
    """The corpus term a question term absent from ``vocabulary`` stands for: its stem's spelling, else the whole
    word's. A misspelt name's stem can lose the letters that tell it: "Shirly" stems to "shir", too short to be
    one typo from "shirley", while the word itself is."""
    return corpus_spelling(term, vocabulary) or (corpus_spelling(word, vocabulary) if word != term else None)


def corpus_spelling(term: str, vocabulary: dict[str, int]) -> str | None:
    """The corpus term a question term most likely means when it is not there as written (a demonym, a typo).

    Remembered for the vocabulary last asked about: one question asks it up to three times for a term (reading the
    term, matching it in passages, the thing it counts), and each look scans every corpus word (about 10 ms at 2,002
    articles). A reloaded index brings a new vocabulary, and the memory starts again.
    """
    global _spelled
    vocab_known, known = _spelled
    if vocab_known is not vocabulary or len(known) > _SPELLED_MAX:
        known = {}
        _spelled = (vocabulary, known)
    if term not in known:
        known[term] = _spelling(term, vocabulary)
    return known[term]


_SPELLED_MAX = 10_000  # distinct question terms remembered for one vocabulary
_spelled: tuple[dict[str, int] | None, dict[str, str | None]] = (None, {})


def _spelling(term: str, vocabulary: dict[str, int]) -> str | None:
    if len(term) < 4 or term.isdigit():
        return None
    if same := next((v for v in same_country(term) if v in vocabulary), None):  # "french" -> "franc"
        return same
    if len(term) < 5:  # too short to misspell safely; only an extension counts: "asia" -> "asian"
        return next((v for v in vocabulary if v.startswith(term) and len(v) - len(term) <= 2), None)
    longer = next((v for v in vocabulary if v.startswith(term) and len(v) - len(term) <= 5), None)
    if longer:  # a demonym or short form: "tajik" -> "tajikistan"
        return longer
    match = process.extractOne(term, vocabulary.keys(), scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
    if match:
        return match[0]
    if len(term) >= TYPO_MIN_LETTERS:  # "Geegen" for "Gegeen", "Frensh" for "French": one edit, ratio 83
        typo = process.extractOne(term, vocabulary.keys(), scorer=DamerauLevenshtein.distance, score_cutoff=1)
        return typo[0] if typo else None
    return None


def name_groups(question: str) -> list[list[str]]:
    """Names in the question as groups of lower-case words ("Tugh Temur" -> ["tugh", "temur"]), each number alone.

    A name is a run of words written with a capital (other than the question's first word)
    or in capitals; aliases are folded ("United States" -> one word). An ordinal in digits is a word, as the index
    reads it ("20th century" is "twentieth century"), not the number 20, and "Sept" is "September".
    """
    groups: list[list[str]] = []
    run: list[str] = []
    run_start = 0
    tokens = re.findall(r"[^\W\d_][\w'’.+-]*|\d[\d,.]*", fold_ordinals(fold_months(question)))
    for i, tok in enumerate([*tokens, ""]):
        # An initialism keeps its last dot ("U.S." folds to "United States"; "U.S" would read as two letters).
        core = tok if re.fullmatch(r"(?:[A-Z]\.){2,}", tok) else tok.rstrip(".'’,").split("'")[0].split("’")[0]
        if core[:1].isdigit():
            groups.append(words(core) + _other_forms(core, tokens[i - 1] if i else "", tokens[i + 1] if i + 1 < len(tokens) else ""))
            core = ""
        if core and ((i > 0 and core[0].isupper()) or (len(core) > 1 and core.isupper())):
            run_start = run_start if run else i
            run.append(core)
            continue
        if run and not _describes_the_answer(tokens, run_start, core):
            groups.append([w for w in words(" ".join(run)) if w not in STOPWORDS])
        run = []
    return [g for g in groups if g]


_ROMAN = ["", "i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii", "xiii", "xiv", "xv", "xvi", "xvii", "xviii", "xix", "xx"]


def _other_forms(number: str, before: str, after: str) -> list[str]:
    """Other ways a passage writes a number the question asks about: the century of "the 1700s" ("18th century",
    read as the index reads it, "eighteenth"), and the Roman numeral of a number in a name ("World War 2" and
    "World War II")."""
    if re.fullmatch(r"1?\d00", number) and after == "s":
        return words(ordinal_word(int(number) // 100 + 1))
    if before[:1].isupper() and number.isdigit() and 0 < int(number) < len(_ROMAN):
        return [_ROMAN[int(number)]]
    return []


def _describes_the_answer(tokens: list[str], start: int, following: str) -> bool:
    """Do the capitalised words from ``tokens[start]`` qualify the kind of answer asked for, between "what" or "which"
    and its noun ("What *Irish* cities ...", "Which central *European* country ...", "What *Italian* title ...")?
    The answer is such a city or title; the passage names it, not necessarily the word."""
    before = tokens[max(0, start - 2) : start]
    wh = ("what", "which")
    after_wh = (before and before[-1].lower() in wh) or (
        len(before) == 2 and before[0].lower() in wh and before[1].islower() and before[1] not in STOPWORDS  # "central", not "is"
    )
    return bool(after_wh) and following[:1].islower()


def mentioned_words(text: str) -> set[str]:
    """Lower-case words of a text, possessives and punctuation stripped, aliases folded too."""
    raw = {w.lower().strip(".,?!;:'’\"") for w in re.findall(r"[\w$%.,+'’-]+", text)}
    raw |= {w.split("'")[0].split("’")[0] for w in raw}
    raw |= {fold_letters(w) for w in raw}  # as spans are compared with them ("Ögedei" said as "Ogedei")
    return {w for w in raw if w} | set(words(text))


def same_country(term: str) -> frozenset[str]:
    """The other index terms of the country ``term`` names: its name and its people's word ("china" <-> "chines",
    "franc" <-> "french", "peru" <-> "peruvian"); empty for any other term."""
    return _country_terms().get(term, frozenset())


@lru_cache(maxsize=1)
def _country_terms() -> dict[str, frozenset[str]]:
    # countryinfo's names and demonyms, read once (about 40 ms): only those of one word each, folded as the index
    # folds them. A name that only extends its demonym ("germani"/"german") matched already, and still does.
    from countryinfo import all_countries

    out: dict[str, set[str]] = {}
    for country in all_countries():
        name, people = terms(country.name() or ""), terms(country.demonym() or "")
        if len(name) == 1 and len(people) == 1 and name != people:
            out.setdefault(name[0], set()).add(people[0])
            out.setdefault(people[0], set()).add(name[0])
    return {k: frozenset(v) for k, v in out.items()}
