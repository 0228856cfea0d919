"""Text normalisation and the one tokenizer shared by BM25 and the answerer.

Keyword search and the extractive answerer must agree on what a "term" is
(stemmed, lower-case, numbers without thousands separators), so both use
:func:`terms` from here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

import blingfire
import Stemmer
from anyascii import anyascii

_STEMMER = Stemmer.Stemmer("english")

# Common English function words plus question words: they carry no topic.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "per",
        "via",
        "whose",
        "s",
        "t",
        "don",
        "shall",
        "may",
        "might",
        "must",
        "upon",
        "onto",
        "amid",
        "among",
        "tell",
        "say",
        "says",
        "said",
        "know",
        "many",
        "much",
        # The rest of English's closed class of prepositions and subordinators: like the ones above, they
        # say how things relate, not what the question is about ("besides X", "within Y", "although Z").
        "across",
        "along",
        "alongside",
        "amongst",
        "around",
        "behind",
        "beneath",
        "beside",
        "besides",
        "beyond",
        "despite",
        "except",
        "inside",
        "outside",
        "throughout",
        "toward",
        "towards",
        "within",
        "without",
        "although",
        "though",
        "unless",
        "whether",
    ]
)

_MONTHS = {"Jan": "January", "Feb": "February", "Mar": "March", "Apr": "April", "Jun": "June", "Jul": "July", "Aug": "August",
           "Sep": "September", "Sept": "September", "Oct": "October", "Nov": "November", "Dec": "December"}  # fmt: skip
_MONTH_ABBREVIATION = re.compile(r"\b(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)(?:\.|\b(?=\s+\d))")
_MONTH_HINTS = tuple(f"{a.lower()}{c}" for a in _MONTHS for c in ". ")


def fold_months(text: str) -> str:
    """Abbreviated months written out, as capitals ("Sept 1760" -> "September 1760"): the alias table's month pass."""
    if not any(h in text.lower() for h in _MONTH_HINTS):
        return text
    return _MONTH_ABBREVIATION.sub(lambda m: _MONTHS[m.group(1)], text)


# Words whose spellings differ but mean one thing in news copy. Applied before
# stemming so "U.S.", "US", "USA" and "United States" all index as one term.
# Each pattern comes with hints: lower-case strings one of which must be in a text for the
# pattern to match at all. A pattern is run only on texts holding a hint (a substring test
# costs far less than a regex pass), and most texts hold few: building the keyword index over
# 11,664 chunks spent 2.2 s in these passes. tests/test_text.py checks each hint is needed.
_ALIASES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str], tuple[str, ...]]] = [
    (re.compile(r"\bU\.\s?S\.(?:\s?A\.)?(?=\W|$)"), " unitedstates ", ("u.",)),
    (re.compile(r"\bUSA?\b"), " unitedstates ", ("us",)),
    (re.compile(r"\bunited\s+states(?:\s+of\s+america)?\b", re.I), " unitedstates ", ("united",)),
    (re.compile(r"\bamerica(?:n|ns)?\b", re.I), " unitedstates ", ("america",)),
    (re.compile(r"\bU\.\s?K\.(?=\W|$)|\bUK\b"), " unitedkingdom ", ("u.", "uk")),
    (re.compile(r"\bunited\s+kingdom\b|\bbritain\b|\bbritish\b", re.I), " unitedkingdom ", ("united", "brit")),
    (re.compile(r"\bE\.\s?U\.(?=\W|$)|\bEU\b"), " europeanunion ", ("e.", "eu")),
    (re.compile(r"\beuropean\s+union\b", re.I), " europeanunion ", ("european",)),
    (re.compile(r"\b(\d+(?:\.\d+)?)\s*(?:%|per\s?cent|percent)", re.I), r" \1 percent ", ("%", "cent")),
    (re.compile(r"\bex-?im\b", re.I), " export import ", ("exim", "ex-im")),
    (re.compile(r"\bCEOs?\b|\bchief\s+executive(?:\s+officer)?s?\b", re.I), " ceo ", ("ceo", "chief")),
    (re.compile(r"\bMoUs?\b", re.I), " memorandum of understanding ", ("mou",)),
    (re.compile(r"\bJVs?\b"), " joint venture ", ("jv",)),
    (re.compile(r"\bmetric\s+tons?\b|\btonnes?\b|\bmt\b", re.I), " ton ", ("ton", "mt")),
    # A month as news copy abbreviates it ("Nov. 6", "Sept 1760") is the month a question writes out.
    (_MONTH_ABBREVIATION, lambda m: f" {_MONTHS[m.group(1)]} ", _MONTH_HINTS),
]

# The words a name folded by the table above may be written with: a source that says "U.S." vouches for
# "United States", "US" and "America" in an answer (the grounding check compares names word by word).
ALIAS_NAMES: dict[str, frozenset[str]] = {
    "unitedstates": frozenset({"us", "usa", "united", "states", "america", "american", "americans"}),
    "unitedkingdom": frozenset({"uk", "united", "kingdom", "britain", "british"}),
    "europeanunion": frozenset({"eu", "european", "union"}),
}


_TOKEN = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*(?:\+[0-9]+)?")
_NUMBER = re.compile(r"^\d[\d.,]*$")


def normalize(text: str) -> str:
    """NFKC-normalise (non-breaking and odd spaces become plain ones), unify quotes, collapse runs of spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u00ad", "")
    text = re.sub(r"[ \t\u200b\u2009\u202f]+", " ", text)
    return "\n".join(line.strip() for line in text.split("\n"))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Snowball stem of a lower-case word; numbers are returned without separators."""
    if _NUMBER.match(word):
        return normalize_number(word)
    return _STEMMER.stemWord(word)


def normalize_number(token: str) -> str:
    """'12,000' -> '12000', '1.1' stays '1.1', '854,000' -> '854000'."""
    token = token.strip(".,")
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", token):
        token = token.replace(",", "")
    return token


def words(text: str) -> list[str]:
    """Lower-case word tokens after alias folding, stopwords kept, not stemmed."""
    return list(_words(text))


def terms(text: str) -> list[str]:
    """Stemmed content terms of ``text``: the unit of BM25 and of question coverage."""
    return list(_terms(text))


# The answerer reads the same corpus sentences for question after question, and the 14 alias
# passes were a fifth of a warm answer's time (profiled over the golden questions). Cached by text.
@lru_cache(maxsize=16384)
def _words(text: str) -> tuple[str, ...]:
    return tuple(w.strip(".,") for w in _TOKEN.findall(fold_ordinals(fold_letters(fold_aliases(text))).lower()))


_ORDINAL_DIGITS = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)\b", re.IGNORECASE)
_UNITS = ["", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "eleventh", "twelfth",
          "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth", "eighteenth", "nineteenth"]  # fmt: skip
_TENS = {2: ("twentieth", "twenty"), 3: ("thirtieth", "thirty"), 4: ("fortieth", "forty"), 5: ("fiftieth", "fifty"),
         6: ("sixtieth", "sixty"), 7: ("seventieth", "seventy"), 8: ("eightieth", "eighty"), 9: ("ninetieth", "ninety")}  # fmt: skip


def ordinal_word(n: int) -> str:
    """1 -> "first", 20 -> "twentieth", 21 -> "twenty-first" (1 to 99)."""
    if n < 20:
        return _UNITS[n]
    tens, unit = divmod(n, 10)
    return _TENS[tens][0] if unit == 0 else f"{_TENS[tens][1]}-{_UNITS[unit]}"


def fold_ordinals(text: str) -> str:
    """Ordinals in digits written out ("3rd" -> "third", "15th century" -> "fifteenth century"), so a question and
    an article that write one differently share the word; an ordinal is a word, never a number asked about."""
    if not any(c.isdigit() for c in text):
        return text
    return _ORDINAL_DIGITS.sub(lambda m: ordinal_word(int(m.group(1))) if 0 < int(m.group(1)) < 100 else m.group(0), text)


def fold_letters(text: str) -> str:
    """Letters written in ASCII as a reader of English writes them: "Temür" -> "Temur", "São" -> "Sao", "Ørsted" ->
    "Orsted", "Катпар" -> "Katpar" (anyascii's tables); other characters as they are, combining marks dropped.

    Words are tokens of ASCII letters and digits: before this, "Yesün Temür" was read as "yes", "n", "tem", "r", so a
    question that wrote "Yesun Temur" named something no article held, and the name-gate refused it. Symbols keep
    their own form ("€5" stays a "5", not "EUR5").
    """
    if text.isascii():
        return text
    out = []
    for ch in text:
        if ch.isascii():
            out.append(ch)
        elif ch.isalpha():
            out.append(anyascii(ch))
        elif not unicodedata.combining(ch):
            out.append(ch)
    return "".join(out)


def fold_aliases(text: str) -> str:
    """``text`` with every alias spelling replaced by its one term ("U.S." -> "unitedstates")."""
    lower = text.lower()
    for pattern, repl, hints in _ALIASES:
        if any(hint in lower for hint in hints):
            folded = pattern.sub(repl, text)
            if folded != text:
                text, lower = folded, folded.lower()
    return text


# Cached by text as _words is: the answer step reads the same corpus sentences question after question, and these
# are the alias passes whose cost made _words a cache.
@lru_cache(maxsize=16384)
def alias_stretches(text: str) -> tuple[tuple[int, int, tuple[str, ...]], ...]:
    """Where the alias table rewrites ``text``: (start, end, the terms that stretch indexes as). "Redwood Mining
    chief executive Anna Berg" holds the term "ceo" at the characters of "chief executive"."""
    lower = text.lower()
    out = []
    for pattern, repl, hints in _ALIASES:
        if any(hint in lower for hint in hints):
            for m in pattern.finditer(text):
                folded = m.expand(repl) if isinstance(repl, str) else repl(m)
                out.append((m.start(), m.end(), tuple(terms(folded))))
    return tuple(out)


@lru_cache(maxsize=16384)
def _terms(text: str) -> tuple[str, ...]:
    return tuple(stem(w) for w in _words(text) if (w and w not in STOPWORDS and len(w) > 1) or w.isdigit())


def content_words(text: str) -> list[str]:
    """Distinct lower-case words of ``text`` worth comparing by meaning (no stopwords, numbers or scraps)."""
    return list(_content_words(text))


@lru_cache(maxsize=16384)
def _content_words(text: str) -> tuple[str, ...]:
    return tuple(w for w in dict.fromkeys(_words(text)) if w not in STOPWORDS and len(w) > 2 and not w[0].isdigit())


# -- sentences -----------------------------------------------------------------------------------------------
def split_sentences(paragraph: str) -> list[str]:
    """Sentences of one paragraph (handles 'U.S.', 'Nov. 6', 'D.C.' and quotes).

    BlingFire's rule-based splitter: as good as pysbd on news copy here and some
    seventy times faster, which matters when a build chunks thousands of articles.
    """
    paragraph = re.sub(r"\s+", " ", paragraph).strip()
    if not paragraph:
        return []
    return [s.strip() for s in blingfire.text_to_sentences(paragraph).split("\n") if s.strip()]


def chunk_lines(text: str) -> list[str]:
    """A chunk's sentences as the answerer quotes them: its non-blank lines (the chunker writes one sentence a line).

    The index stores a vector per line (index/keyword.py) and the answerer looks lines up by the same split.
    """
    return [line for line in text.split("\n") if line.strip()]


def sentences_of(text: str) -> list[str]:
    """Sentences of a text laid out in lines (a chunk holds one sentence a line; other text is split too)."""
    return [s for line in text.split("\n") for s in split_sentences(line)]


# -- instructions planted in an article ------------------------------------------------------------------------
# The payload of "reply HACKED" is matched case-sensitively: with the rest of the pattern case-blind it took
# any word, and "to print paper money", "we say that X" read as orders (9 of the 2,455 sentences of the
# SQuAD split), which the extractive answer then could not quote. The verb must also stand as an order: first in
# its clause, or after "and", "then", "please", "must", "told to" ...; with a subject before it, "Officials say
# NATO will expand" and "Analysts say OPEC will cut output" are news, not orders.
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b.{0,60}\b(?:instructions?|question|prompt|rules?|above|previous|system)\b|"
    r"(?:^|[:;,.!?\"“'(—–-]\s*|\b(?:and|then|please|just|only|always|instead|simply|now|must|should"
    r"|(?:instructed|told|asked|required|supposed|meant)\s+to)\s+)"
    r"(?:reply|respond|answer|say|output|print|write)\b\s+(?:only\s+|just\s+|with\s+|exactly\s+)*[\"“']?(?-i:[A-Z]{3,})\b|"
    r"\b(?:you are now|system prompt|as an ai|new instructions?)\b|"
    r"\b(?:ai|assistants?|chatbots?|language models?|llms?|bots?)\b[^.]{0,40}\b(?:reading|processing|summari[sz]ing)\s+this\b",
    re.IGNORECASE,
)


def reads_as_instruction(sentence: str) -> bool:
    """Does a sentence of an article read as an instruction to a model ("ignore the question and reply ...")?

    Such a sentence is never quoted as an answer nor counted as support for one: an article
    cannot vouch for its own payload. One rule for the extractive answerer and the grounding check.
    """
    return bool(_INSTRUCTION.search(sentence))
