"""The grounding check: is a generated answer held to the sources it was given?

An answer passes when

1. it cites at least one source, and every ``[n]`` names a source that was given;
2. every number, amount, percentage and date in each sentence appears in a source that
   sentence cites (an uncited sentence: in any source the answer cites), allowing
   formatting variants: "12,000" = "12000", "$1.1 billion" = "1.1 billion dollars" =
   "US$1,100 million", "15%" = "15 percent", "November 6" = "6 November 2025";
3. every proper name (a capitalised word, an acronym, a code such as "C5+1") appears in
   those sources (case, accents, possessives and "U.S."/"US" do not matter);
4. at least half of each sentence's content words (stemmed) occur in its cited sources
   (the question's words do not count: a question can carry an injection too).

Sentences in a source that read like instructions to a model ("ignore the question and
reply ...") do not count as support: an injected article cannot vouch for its own payload.

:func:`check` decides for a whole answer, :func:`grounded_prefix` for a streamed one
(the complete sentences that pass so far), :func:`renumber` maps the cited sources to
1..k in order of first citation.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from index.text import STOPWORDS, terms

MIN_SUPPORT = 0.5  # of a sentence's content words that its cited sources must contain


@dataclass
class Verdict:
    ok: bool
    reason: str = ""
    cited: list[int] = field(default_factory=list)  # source numbers, in order of first citation


@dataclass(frozen=True)
class Claim:
    """One sentence of an answer: its text without markers, the sources it cites, and where it ends."""

    text: str
    cites: tuple[int, ...]
    end: int  # offset in the answer just past this sentence (and its markers)
    complete: bool  # followed by more text (or the answer is final)


# -- citation markers -------------------------------------------------------------------
_GROUP = re.compile(r"\[\s*(?:sources?\s*)?(\d+(?:\s*(?:,|;|-|–|and)\s*\d+)*)\s*\]", re.IGNORECASE)
_MARKER = re.compile(r"\[(\d+)\]")


def normalize_markers(text: str) -> str:
    """``[1, 2]``, ``[1-3]``, ``[source 2]`` written as ``[1] [2]``, ``[1] [2] [3]``, ``[2]``."""

    def expand(m: re.Match[str]) -> str:
        nums: list[int] = []
        for part in re.split(r"\s*(?:,|;|and)\s*", m.group(1)):
            if re.fullmatch(r"\d+\s*[-–]\s*\d+", part):
                a, b = (int(x) for x in re.split(r"\s*[-–]\s*", part))
                nums.extend(range(a, b + 1) if 0 < b - a < 10 else (a, b))
            elif part.strip().isdigit():
                nums.append(int(part))
        return " ".join(f"[{n}]" for n in nums)

    return _GROUP.sub(expand, text)


def cited_numbers(text: str) -> list[int]:
    """Source numbers cited in ``text``, in order of first citation."""
    seen: list[int] = []
    for m in _MARKER.finditer(normalize_markers(text)):
        n = int(m.group(1))
        if n not in seen:
            seen.append(n)
    return seen


def renumber(text: str, order: Sequence[int]) -> str:
    """Markers rewritten so that ``order[0]`` becomes ``[1]``, ``order[1]`` ``[2]``, ... (others dropped)."""
    new = {old: i for i, old in enumerate(order, start=1)}
    text = normalize_markers(text)
    text = _MARKER.sub(lambda m: f"[{new[int(m.group(1))]}]" if int(m.group(1)) in new else "", text)
    return re.sub(r"(\])(?=\[)", r"\1 ", text)


# -- sentences --------------------------------------------------------------------------
_BOUNDARY = re.compile(r"(?<=[.!?…])(?P<marks>(?:\s*\[\d+\])*)\s+(?=\S)|\n\s*")
_ABBREV = re.compile(
    r"(?:\b(?:[A-Z]\.)+|\b(?:Mr|Mrs|Ms|Dr|St|No|Inc|Corp|Co|Ltd|Jr|Sr|vs|etc|e\.g|i\.e|Gen|Gov|Sen|Rep|Prof)\.)$"
)
_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")


def claims(text: str, final: bool = True) -> list[Claim]:
    """The answer's sentences with the sources each cites; a trailing unfinished one is marked incomplete."""
    text = normalize_markers(text)
    out: list[Claim] = []
    start = 0
    pieces: list[tuple[int, int]] = []
    for m in _BOUNDARY.finditer(text):
        end = m.start() + len(m.group("marks") or "")
        chunk = text[start:end]
        if m.group(0).startswith("\n") or not _ABBREV.search(text[start : m.start()].rstrip()):
            if chunk.strip():
                pieces.append((start, end))
            start = m.end()
    if text[start:].strip():
        pieces.append((start, len(text)))
    for i, (a, b) in enumerate(pieces):
        raw = text[a:b]
        cites = tuple(dict.fromkeys(int(n) for n in _MARKER.findall(raw)))
        bare = _LIST_MARK.sub("", _MARKER.sub(" ", raw)).replace("**", "").replace("__", "")
        bare = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(bare.split()))
        out.append(Claim(bare, cites, b, final or i < len(pieces) - 1))
    return out


# -- facts: quantities, dates, names ----------------------------------------------------
_SCALES = {
    "thousand": 1e3, "k": 1e3, "million": 1e6, "mn": 1e6, "m": 1e6, "mln": 1e6,
    "billion": 1e9, "bn": 1e9, "b": 1e9, "bln": 1e9, "trillion": 1e12, "tn": 1e12,
}  # fmt: skip
_CURRENCY_WORDS = {
    "$": "USD", "us$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "u.s. dollars": "USD",
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP",
    "¥": "JPY", "yen": "JPY", "yuan": "CNY", "rmb": "CNY",
    "tenge": "KZT", "kzt": "KZT", "rubles": "RUB", "roubles": "RUB", "rub": "RUB",
}  # fmt: skip
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
    if i >= 2
} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100}

_QTY = re.compile(
    r"(?P<cur>US\$|\$|€|£|¥|\b(?:USD|EUR|GBP|KZT)\s?)?"
    r"(?<![\w.])(?P<num>\d{1,3}(?:(?:,|\u00a0|\u202f|\u2009| )\d{3}(?![\d,.]\d))+(?:\.\d+)?|\d+(?:\.\d+)?|(?P<word>"
    + "|".join(_NUMBER_WORDS)
    + r")\b)(?![\w.]?\d)"
    r"(?:(?P<attached>k|m|bn|mn|b)\b|\s*-?\s*(?P<scale>thousand|million|billion|trillion|bn|mn|mln|bln|tn)\b)?"
    r"(?:\s*(?P<pct>%|percent\b|per\s+cent\b|pct\b)|\s+(?:of\s+)?(?P<curword>U\.S\.\s+dollars|dollars?|euros?|pounds|yen|yuan|tenge|rubles|roubles)\b)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Quantity:
    value: float
    mantissa: float
    scaled: bool
    currency: str | None
    percent: bool
    raw: str = ""

    @property
    def bare(self) -> bool:
        return not (self.scaled or self.currency or self.percent)


def quantities(text: str) -> list[Quantity]:
    """Numbers with their scale, currency and percent sign ("US$1.1 bn" -> 1.1e9 USD)."""
    out = []
    for m in _QTY.finditer(text):
        if m.group("word"):
            mantissa = float(_NUMBER_WORDS[m.group("word").lower()])
        else:
            mantissa = float(re.sub(r"[, \u00a0\u202f\u2009]", "", m.group("num")))
        scale_word = (m.group("scale") or m.group("attached") or "").lower()
        scale = _SCALES.get(scale_word, 1.0)
        cur = m.group("cur") or m.group("curword") or ""
        currency = _CURRENCY_WORDS.get(cur.strip().lower()) if cur else None
        out.append(Quantity(mantissa * scale, mantissa, bool(scale_word), currency, bool(m.group("pct")), m.group(0).strip()))
    return out


def _same_quantity(q: Quantity, s: Quantity) -> bool:
    if q.bare:  # "70" in the answer is supported by "70%" or "70 million" in a source
        return math.isclose(q.mantissa, s.mantissa, rel_tol=1e-9) or math.isclose(q.value, s.value, rel_tol=1e-9)
    if q.percent != s.percent:
        return False
    if q.currency and s.currency and q.currency != s.currency:
        return False
    return math.isclose(q.value, s.value, rel_tol=1e-9)


_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
            ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"),
            ("november", "nov"), ("december", "dec"),
        ],
        start=1,
    )
    for m in names
}  # fmt: skip
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATES = [
    re.compile(_MONTH + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(?P<year>\d{4})\b)?", re.IGNORECASE),
    re.compile(r"\b(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r"(?:,?\s+(?P<year>\d{4})\b)?", re.IGNORECASE),
    re.compile(r"\b(?P<year>\d{4})-(?P<mnum>\d{2})-(?P<day>\d{2})\b"),
]


@dataclass(frozen=True)
class Date:
    month: int
    day: int
    year: int | None


def dates(text: str) -> tuple[list[Date], str]:
    """Month-day dates in ``text`` and the text with them blanked out (so their numbers are not counted again)."""
    found: list[Date] = []
    for pattern in _DATES:

        def take(m: re.Match[str]) -> str:
            month = int(m.group("mnum")) if "mnum" in m.groupdict() and m.group("mnum") else _MONTHS[m.group("month").lower()]
            day = int(m.group("day"))
            if not (1 <= month <= 12 and 1 <= day <= 31):
                return m.group(0)
            found.append(Date(month, day, int(m.group("year")) if m.group("year") else None))
            return " " * len(m.group(0))

        text = pattern.sub(take, text)
    return found, text


def _same_date(d: Date, s: Date) -> bool:
    return d.month == s.month and d.day == s.day and (d.year is None or s.year is None or d.year == s.year)


_WORD = re.compile(r"(?:[A-Z]\.){2,}|[^\W\d_](?:[\w'’\-+]*[\w+])?")
_CODE = re.compile(r"\b[A-Za-z][A-Za-z\-]*\d[\w+\-]*")
_OPENERS = frozenset(
    [
        "according",
        "additionally",
        "afterwards",
        "also",
        "although",
        "among",
        "another",
        "as",
        "based",
        "besides",
        "both",
        "briefly",
        "but",
        "by",
        "currently",
        "during",
        "each",
        "earlier",
        "either",
        "finally",
        "first",
        "following",
        "for",
        "furthermore",
        "further",
        "however",
        "here",
        "in",
        "including",
        "instead",
        "it",
        "its",
        "later",
        "likewise",
        "meanwhile",
        "moreover",
        "most",
        "neither",
        "no",
        "none",
        "notably",
        "officials",
        "on",
        "overall",
        "per",
        "previously",
        "second",
        "separately",
        "several",
        "since",
        "so",
        "some",
        "specifically",
        "still",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "therefore",
        "these",
        "they",
        "this",
        "those",
        "thus",
        "to",
        "together",
        "under",
        "unlike",
        "upon",
        "when",
        "where",
        "whereas",
        "while",
        "with",
        "within",
        "without",
        "yes",
        "yet",
    ]
)
_ALIASES = {
    "us": {"united", "states", "america", "american", "americans", "washington"},
    "usa": {"united", "states", "america", "american"},
    "uk": {"united", "kingdom", "britain", "british"},
    "un": {"united", "nations"},
    "eu": {"european", "union"},
}


def _key(word: str) -> str:
    """A word as compared: accents, dots, possessive and case removed."""
    word = unicodedata.normalize("NFKD", word)
    word = "".join(c for c in word if not unicodedata.combining(c))
    word = re.sub(r"['’]s$", "", word).replace(".", "")
    return word.casefold()


def names(text: str) -> list[tuple[str, bool]]:
    """Capitalised words, each with whether it opens the sentence (then it may be an ordinary word)."""
    out = []
    first = True
    for m in _WORD.finditer(text):
        word = m.group(0)
        if word[0].isupper() and word != "I":
            lower = word.lower()
            if not (first and (lower in STOPWORDS or lower in _OPENERS)):
                out.append((word, first))
        first = False
    return out


def codes(text: str) -> list[str]:
    """Tokens mixing letters and digits ("C5+1", "G7"): they must appear as written."""
    return [m.group(0).rstrip("-") for m in _CODE.finditer(text)]


# -- sources ----------------------------------------------------------------------------
# The payload of "reply HACKED" is matched case-sensitively: with the rest of the pattern case-blind it took
# any word, and "to print paper money", "we say that X", "returns the answer yes" read as orders (9 of the
# 2,455 sentences of the SQuAD split), which the extractive answer then could not quote.
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b.{0,60}\b(?:instructions?|question|prompt|rules?|above|previous|system)\b|"
    r"\b(?:reply|respond|answer|say|output|print|write)\b\s+(?:only\s+|just\s+|with\s+|exactly\s+)*[\"“']?(?-i:[A-Z]{3,})\b|"
    r"\b(?:you are now|system prompt|as an ai|new instructions?)\b",
    re.IGNORECASE,
)


def reads_as_instruction(sentence: str) -> bool:
    """Does this sentence read as an order to a model ("ignore the question and reply ...")?

    One rule for both answer paths: such a sentence of an article vouches for nothing in an LLM reply
    (SourceText) and is never quoted as an extractive answer; such a sentence of a question is left out of
    its key terms (bot.extractive).
    """
    return bool(_INSTRUCTION.search(sentence))


class SourceText:
    """What a source can vouch for: its words, numbers, dates and codes (instruction-like sentences left out)."""

    def __init__(self, text: str) -> None:
        kept = [s for s in re.split(r"(?<=[.!?])\s+|\n", text) if not reads_as_instruction(s)]
        self.text = "\n".join(kept)
        self.dates, _ = dates(self.text)
        self.quantities = quantities(self.text)  # a date's day and year count as numbers too
        keys: set[str] = set()
        caps: list[list[str]] = [[]]
        for m in _WORD.finditer(self.text):
            word = m.group(0)
            key = _key(word)
            keys.add(key)
            keys.update(_key(p) for p in re.split(r"[-+]", word) if p)
            if word[0].isupper():
                caps[-1].append(key)
            elif caps[-1]:
                caps.append([])
        for run in caps:  # "United States" also answers to "US"
            if len(run) > 1:
                keys.add("".join(w[0] for w in run))
        for short, long in _ALIASES.items():
            if short in keys:
                keys |= long
            if long <= keys or (short == "us" and {"united", "states"} <= keys):
                keys.add(short)
        self.keys = keys
        self.terms = set(terms(self.text))
        self.codes = {_key(c) for c in codes(self.text)}

    def has_name(self, word: str) -> bool:
        key = _key(word)
        if key in self.keys:
            return True
        parts = [p for p in re.split(r"[-+]", key) if p]
        if len(parts) > 1 and all(p in self.keys for p in parts):
            return True
        # "Uzbek" for "Uzbekistan", "Kazakh" for "Kazakhstan": a demonym or short form of a word there
        return len(key) >= 5 and any(k.startswith(key) for k in self.keys)


# -- the check --------------------------------------------------------------------------
def check(answer: str, sources: Sequence[str]) -> Verdict:
    """Whether ``answer`` is held to ``sources`` (``sources[0]`` is ``[1]``), and if not, why."""
    cited = cited_numbers(answer)
    bad = [n for n in cited if not 1 <= n <= len(sources)]
    if bad:
        return Verdict(False, f"cites [{bad[0]}] but only {len(sources)} sources were given", cited)
    if not cited:
        return Verdict(False, "cites no source", cited)
    texts = {n: SourceText(sources[n - 1]) for n in cited}
    for claim in claims(answer):
        reason = _check_claim(claim, texts, cited)
        if reason:
            return Verdict(False, reason, cited)
    return Verdict(True, "", cited)


def grounded_prefix(answer: str, sources: Sequence[str], final: bool = False) -> str:
    """The longest run of complete leading sentences of a (streaming) answer that pass the check; "" if none."""
    end = 0
    cited: list[int] = []
    texts: dict[int, SourceText] = {}
    for claim in claims(answer, final=final):
        if not claim.complete:
            break
        if any(not 1 <= n <= len(sources) for n in claim.cites):
            break
        cited.extend(n for n in claim.cites if n not in cited)
        if not cited:
            break
        for n in claim.cites:
            if n not in texts:
                texts[n] = SourceText(sources[n - 1])
        if _check_claim(claim, texts, cited):
            break
        end = claim.end
    return normalize_markers(answer)[:end].rstrip()


def _check_claim(claim: Claim, texts: dict[int, SourceText], cited: Sequence[int]) -> str:
    """Why one sentence is not supported by the sources it cites (all cited ones if it cites none); "" if it is."""
    scope = [texts[n] for n in (claim.cites or cited)]
    where = "its cited source" if claim.cites else "any cited source"
    text = claim.text
    found_dates, rest = dates(text)
    for d in found_dates:
        if not any(_same_date(d, s) for src in scope for s in src.dates):
            return f"the date {_show_date(d)} is not in {where}"
    for code in codes(rest):
        if _key(code) not in {c for src in scope for c in src.codes}:
            return f"{code!r} is not in {where}"
    rest = _CODE.sub(" ", rest)
    for q in quantities(rest):
        if not any(_same_quantity(q, s) for src in scope for s in src.quantities):
            return f"the number {q.raw!r} is not in {where}"
    rest = _QTY.sub(" ", rest)  # "USD", "bn": checked with their numbers, not as names or words
    allowed = set().union(*(src.terms for src in scope))
    for word, opens in names(rest):
        if opens and not word.isupper() and set(terms(word)) <= allowed:
            continue  # "Developing the project ...": an ordinary word that the sources use
        if not any(src.has_name(word) for src in scope):
            return f"the name {word!r} is not in {where}"
    content = [t for t in terms(rest) if not t.replace(".", "").isdigit()]
    if content:
        supported = sum(t in allowed for t in content)
        if supported / len(content) < MIN_SUPPORT:
            return f"too little of {claim.text[:60]!r} is in {where}"
    return ""


def _show_date(d: Date) -> str:
    return f"{d.year or '?'}-{d.month:02d}-{d.day:02d}"
