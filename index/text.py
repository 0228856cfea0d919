"""Text normalisation and the one tokenizer shared by BM25 and the answerer.

Keyword search and the extractive answerer must agree on what a "term" is
(stemmed, lower-case, numbers without thousands separators), so both use
:func:`terms` from here.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

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
    ]
)

# Words whose spellings differ but mean one thing in news copy. Applied before
# stemming so "U.S.", "US", "USA" and "United States" all index as one term.
_ALIASES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bU\.\s?S\.(?:\s?A\.)?(?=\W|$)"), " unitedstates "),
    (re.compile(r"\bUSA?\b"), " unitedstates "),
    (re.compile(r"\bunited\s+states(?:\s+of\s+america)?\b", re.I), " unitedstates "),
    (re.compile(r"\bamerica(?:n|ns)?\b", re.I), " unitedstates "),
    (re.compile(r"\bU\.\s?K\.(?=\W|$)|\bUK\b"), " unitedkingdom "),
    (re.compile(r"\bunited\s+kingdom\b|\bbritain\b|\bbritish\b", re.I), " unitedkingdom "),
    (re.compile(r"\bE\.\s?U\.(?=\W|$)|\bEU\b"), " europeanunion "),
    (re.compile(r"\beuropean\s+union\b", re.I), " europeanunion "),
    (re.compile(r"\b(\d+(?:\.\d+)?)\s*(?:%|per\s?cent|percent)", re.I), r" \1 percent "),
    (re.compile(r"\bex-?im\b", re.I), " export import "),
    (re.compile(r"\bCEOs?\b|\bchief\s+executive(?:\s+officer)?s?\b", re.I), " ceo "),
    (re.compile(r"\bMoUs?\b", re.I), " memorandum of understanding "),
    (re.compile(r"\bJVs?\b"), " joint venture "),
    (re.compile(r"\bmetric\s+tons?\b|\btonnes?\b|\bmt\b", re.I), " ton "),
]

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
    for pattern, repl in _ALIASES:
        text = pattern.sub(repl, text)
    return tuple(w.strip(".,") for w in _TOKEN.findall(text.lower()))


@lru_cache(maxsize=16384)
def _terms(text: str) -> tuple[str, ...]:
    return tuple(stem(w) for w in _words(text) if (w and w not in STOPWORDS and len(w) > 1) or w.isdigit())


def content_words(text: str) -> list[str]:
    """Distinct lower-case words of ``text`` worth comparing by meaning (no stopwords, numbers or scraps)."""
    return [w for w in dict.fromkeys(words(text)) if w not in STOPWORDS and len(w) > 2 and not w[0].isdigit()]
