"""Reading facts in text: numbers, amounts of money, percentages, dates, times and durations.

One home for this knowledge, used by the extractive answerer (what kind of answer a
sentence holds, the short answer's span) and by the LLM answer's grounding check (is a
number or date of the answer in its source). Each reader returns where in the text it
found what, so a caller can take the span as written or compare the values.

- :func:`quantities`: "US$1.1 bn" -> 1.1e9 USD, "15 per cent" -> 15 percent, "twelve" -> 12.
- :func:`dates`: "Nov. 6, 2025", "6 November", "2025-11-06" (month and day; the year if written).
- :func:`times`: every expression of a time: those dates, years ("in 1700", "1990s"), centuries
  ("the 10th century"), month and year ("June 1815"), weekdays, "last year".
- :func:`durations`: "three years", "18 months", "a decade".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# -- vocabularies ------------------------------------------------------------------------------------------
NUMBER_WORDS: dict[str, int] = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "dozen": 12,
}  # fmt: skip
"""Number words read as numbers. "one" is read only before a scale word ("one million"): "one of the firms" is
rarely a quantity."""

SCALES: dict[str, float] = {
    "hundred": 1e2, "thousand": 1e3, "k": 1e3, "million": 1e6, "mn": 1e6, "m": 1e6, "mln": 1e6,
    "billion": 1e9, "bn": 1e9, "b": 1e9, "bln": 1e9, "trillion": 1e12, "tn": 1e12,
}  # fmt: skip

CURRENCIES: dict[str, str] = {
    "$": "USD", "us$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "u.s. dollars": "USD",
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP",
    "¥": "JPY", "yen": "JPY", "yuan": "CNY", "rmb": "CNY",
    "tenge": "KZT", "kzt": "KZT", "rubles": "RUB", "roubles": "RUB", "rub": "RUB",
}  # fmt: skip
"""Currency signs, codes and words, with their ISO code; :func:`_currency_words` adds the world's other currencies."""

# A currency's word that is an everyday English word after a number too ("3 real options", "2 won", "a 5 mark",
# "a 5 pound bag": only "pounds" is money) or names a metal ("5 million gold"), so it is not read as money.
_NOT_CURRENCY_WORDS = frozenset({"mark", "real", "sol", "sum", "won", "colon", "pound", "gold", "oro"})


def _currency_words() -> dict[str, str]:
    """Currency words from pycountry's ISO 4217 names (the last word: "Turkish Lira" -> "lira"), singular and
    plural, beside :data:`CURRENCIES`: "6 million lira", "40 billion som" are money as "$6 million" is."""
    import pycountry

    found: dict[str, str] = {}
    for currency in pycountry.currencies:
        word = currency.name.split()[-1].lower()
        # X codes are not money a country issues (gold, special drawing rights, testing).
        if currency.alpha_3.startswith("X") or not word.isalpha() or word in _NOT_CURRENCY_WORDS:
            continue
        found.setdefault(word, currency.alpha_3)
        found.setdefault(word + ("es" if word.endswith(("s", "sh")) else "s"), currency.alpha_3)
    for word, code in CURRENCIES.items():
        if word.isalpha() and word not in _NOT_CURRENCY_WORDS:
            found[word] = code
    return found


CURRENCY_WORDS: dict[str, str] = _currency_words()
"""Every currency word read after a number ("6 million lira"), with its ISO code."""

MONTH_NAMES = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip
MONTHS: dict[str, int] = {name.lower(): i for i, name in enumerate(MONTH_NAMES, start=1)} | {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\b\.?"
_ANY_MONTH = r"(?:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\b\.?"
_MONTH_WORD = r"(?-i:" + "|".join(MONTH_NAMES) + r")"  # a month written out with its capital ("March", not "march")
_WORD_NUMBER = r"(?:" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"

# Units that make a number an amount of something (rather than a year or a date's day).
UNITS = (
    r"(?:%|percent\b|per\s+cent\b|metric\s+tons?\b|tonnes?\b|tons?\b|mt\b|kwh\b|gw\b|mw\b|twh\b|barrels?\b|ounces?\b|oz\b|"
    r"kg\b|kilograms?\b|grams?\b|km\b|kilometres?\b|kilometers?\b|miles?\b|metres?\b|meters?\b|feet\b|foot\b|acres?\b|"
    r"hectares?\b|square\b|people\b|persons?\b|students?\b|members?\b|soldiers?\b|troops\b|men\b|women\b|workers?\b|"
    r"times\b|votes?\b|seats?\b|copies\b|units?\b|pages?\b|books?\b|volumes?\b)"
)


# -- quantities ----------------------------------------------------------------------------------------------
_QTY = re.compile(
    r"(?P<cur>US\$|\$|€|£|¥|\b(?:USD|EUR|GBP|KZT)\s?)?"
    r"(?<![\w.])(?P<num>\d{1,3}(?:(?:,|\u00a0|\u202f|\u2009| )\d{3}(?!\d))+(?:\.\d+)?|\d+(?:\.\d+)?|(?P<word>"
    + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
    # "one" only before a scale word: "one million people" is a quantity, "one of the firms" is not.
    + r"|one(?=\s*-?\s*(?:hundred|thousand|million|billion|trillion)\b))\b)(?![\w.]?\d)(?!(?:st|nd|rd|th)\b)"
    r"(?:(?P<attached>k|m|bn|mn|b)\b|\s*-?\s*(?P<scale>hundred|thousand|million|billion|trillion|bn|mn|mln|bln|tn)\b)?"
    r"(?:\s*(?P<pct>%|percent\b|per\s+cent\b|pct\b)|\s+(?:of\s+)?(?P<curword>U\.S\.\s+dollars|"
    + "|".join(sorted(CURRENCY_WORDS, key=len, reverse=True))
    + r")\b)?",
    re.IGNORECASE,
)
_UNIT_AFTER = re.compile(r"\s*" + UNITS, re.IGNORECASE)


@dataclass(frozen=True)
class Quantity:
    """A number as written, with its value read: scale, currency and percent sign applied."""

    value: float
    mantissa: float
    scaled: bool
    currency: str | None
    percent: bool
    raw: str = ""
    start: int = 0
    end: int = 0
    unit: str = ""  # a unit written right after it ("tons", "people"), lower case

    @property
    def bare(self) -> bool:
        """Neither scaled, money nor a percentage: "70" (which "70%" or "70 million" may stand for)."""
        return not (self.scaled or self.currency or self.percent)

    @property
    def money(self) -> bool:
        return self.currency is not None

    def same_as(self, other: Quantity) -> bool:
        """The same amount, formatting aside; a bare number matches the number of a scaled or percent one."""
        if self.bare:
            return math.isclose(self.mantissa, other.mantissa, rel_tol=1e-9) or math.isclose(self.value, other.value, rel_tol=1e-9)
        if self.percent != other.percent:
            return False
        if self.currency and other.currency and self.currency != other.currency:
            return False
        return math.isclose(self.value, other.value, rel_tol=1e-9)


def quantities(text: str) -> list[Quantity]:
    """Numbers with their scale, currency and percent sign ("US$1.1 bn" -> 1.1e9 USD), in text order."""
    out = []
    for m in _QTY.finditer(text):
        if m.group("word"):
            mantissa = float(NUMBER_WORDS.get(m.group("word").lower(), 1))  # "one" is read before a scale word only
        else:
            mantissa = float(re.sub(r"[, \u00a0\u202f\u2009]", "", m.group("num")))
        scale_word = (m.group("scale") or m.group("attached") or "").lower()
        cur = m.group("cur") or m.group("curword") or ""
        end = m.end()
        while end > m.start() and text[end - 1].isspace():
            end -= 1
        unit = ""
        if not (m.group("pct") or m.group("curword")):
            u = _UNIT_AFTER.match(text, end)
            if u:
                unit = " ".join(u.group(0).split()).lower()
        out.append(
            Quantity(
                mantissa * SCALES.get(scale_word, 1.0),
                mantissa,
                bool(scale_word),
                (CURRENCIES.get(cur.strip().lower()) or CURRENCY_WORDS.get(cur.strip().lower())) if cur else None,
                bool(m.group("pct")),
                text[m.start() : end],
                m.start(),
                end,
                unit,
            )
        )
    return out


QUANTITY_PATTERN = _QTY
"""The quantity pattern itself, for blanking quantities out of a text once they have been checked."""


# -- dates ---------------------------------------------------------------------------------------------------
_DATES = [
    re.compile(_MONTH + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(?P<year>\d{4})\b)?", re.IGNORECASE),
    re.compile(r"\b(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r"(?:,?\s+(?P<year>\d{4})\b)?", re.IGNORECASE),
    re.compile(r"\b(?P<year>\d{4})-(?P<mnum>\d{2})-(?P<day>\d{2})\b"),
]


@dataclass(frozen=True)
class Date:
    """A calendar day as written: month and day, and the year when it is given."""

    month: int
    day: int
    year: int | None

    def same_as(self, other: Date) -> bool:
        return self.month == other.month and self.day == other.day and (self.year is None or other.year is None or self.year == other.year)

    def iso(self) -> str:
        return f"{self.year or '?'}-{self.month:02d}-{self.day:02d}"


def dates(text: str) -> tuple[list[Date], str]:
    """Month-day dates in ``text`` and the text with them blanked out (so their numbers are not counted again)."""
    found: list[Date] = []
    for pattern in _DATES:

        def take(m: re.Match[str]) -> str:
            month = int(m.group("mnum")) if "mnum" in m.groupdict() and m.group("mnum") else MONTHS[m.group("month").lower().rstrip(".")]
            day = int(m.group("day"))
            if not (1 <= month <= 12 and 1 <= day <= 31):
                return m.group(0)
            found.append(Date(month, day, int(m.group("year")) if m.group("year") else None))
            return " " * len(m.group(0))

        text = pattern.sub(take, text)
    return found, text


def long_date(iso: str) -> str:
    """``2025-11-06`` as ``6 November 2025`` (how articles write it); anything else as is."""
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", iso.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        return iso
    return f"{int(m.group(3))} {MONTH_NAMES[int(m.group(2)) - 1]} {m.group(1)}"


# -- times and durations (spans, for the answerer) -------------------------------------------------------------
_ORDINAL = r"(?:\d{1,2}(?:st|nd|rd|th)|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|twenty-first)"
_PERIOD = r"(?:years?|months?|weeks?|days?|hours?|minutes?|decades?|centuries|century)"
_YEAR = r"(?:1[0-9]{3}|20[0-9]{2})"
_DAY_YEAR = rf"(?:\s+\d{{1,2}}(?:st|nd|rd|th)?\b)?(?:,?\s+{_YEAR}\b)?"  # what may follow a month: "March 3", "March 2024"
_TIME_PATTERNS = [
    # "the early 10th century", "the 10th and 11th centuries"
    re.compile(rf"\b(?:(?:early|mid|late|middle)[- ])?{_ORDINAL}(?:\s+(?:and|or|to)\s+{_ORDINAL})?(?:[- ]century|\s+centuries)\b", re.I),
    # "June 1815", "6 November 2025", "Nov. 6, 2025", "November 6"
    re.compile(rf"\b(?:\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?)?{_ANY_MONTH}{_DAY_YEAR}", re.I),
    # "1990s", "the 1700s", "mid-1700s", "1756-1763", "1756 to 1763", "AD 1066", "1066 AD"
    re.compile(rf"\b(?:(?:early|mid|late)-?)?{_YEAR}s?(?:\s*(?:-|–|to|and|until)\s*{_YEAR}s?)?(?:\s*(?:AD|BC|CE|BCE)\b)?", re.I),
    re.compile(r"\b(?:AD|BC)\s+\d{1,4}\b"),
    re.compile(r"\b\d{1,4}\s+(?:AD|BC|CE|BCE)\b"),  # "800 CE": a year of under four digits says its era
    # "began in 911 as a fiefdom", "until 987,": a three-digit year after a preposition of time, where no noun follows
    # (so not "in 300 villages").
    re.compile(
        r"\b(?:in|by|until|till|since|from|before|after|circa)\s+(?P<time>[1-9]\d{2})\b"
        r"(?=\s*(?:[,.;:)]|$)|\s+(?:as|and|when|while|under|the|a|an|by|with|it|he|she|they|his|her|its|their|was|were|had)\b)",
        re.I,
    ),
    # A month written alone is a time after a preposition of time or with "early"/"mid"/"late" ("signed in March", "by
    # late June", "mid-March"); alone it is too often a word ("May"), and in lower case it is one ("we may").
    re.compile(
        rf"\b(?:(?:in|by|until|till|since|from|before|after|during|through|throughout|end\s+of|start\s+of|beginning\s+of)\s+)"
        rf"(?P<time>(?:(?:early|mid|late)[- ]?)?{_MONTH_WORD}{_DAY_YEAR})\b|\b(?P<when>(?:early|mid|late)-{_MONTH_WORD}{_DAY_YEAR})\b",
        re.I,
    ),
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),
    re.compile(r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|\b(?:yesterday|today|tomorrow)\b|\b(?:this|last|next)\s+(?:year|month|week)\b", re.I),
]
# "Thousands of years", "tens of thousands of years", "hundreds of years": a length of time with no number in it.
_VAGUE_MANY = r"(?:(?:tens|hundreds)\s+of\s+)?(?:dozens|scores|hundreds|thousands|millions)\s+of"
_DURATION = re.compile(
    rf"\b(?:(?:within|in|after|for|over)\s+)?(?:\d[\d.,]*(?:-\d+/\d+|/\d+)?(?:\s*(?:-|–|to)\s*\d[\d.,]*)?|{_WORD_NUMBER}|a|an|several|many|a\s+few|{_VAGUE_MANY})\s+{_PERIOD}\b",
    re.IGNORECASE,
)
# A four-digit number followed by one of these is an amount, not a year ("1700 tons", "2000 people").
_NOT_A_YEAR = re.compile(r"\s*(?:%|,\d|\.\d|" + UNITS[3:], re.IGNORECASE)


@dataclass(frozen=True)
class Span:
    """A piece of text found by a reader: where it is and what kind of thing it is."""

    text: str
    start: int
    end: int
    kind: str  # "time", "duration", "money", "percent", "number", "name"


def times(text: str) -> list[Span]:
    """Every expression of a time in ``text``, longest first where two overlap, in text order."""
    found: list[Span] = []
    for pattern in _TIME_PATTERNS:
        named = [g for g in ("time", "when") if g in pattern.groupindex]  # the time without its preposition
        for m in pattern.finditer(text):
            group = next((g for g in named if m.group(g)), 0)
            span, start = m.group(group).strip(), m.start(group)
            if not span or (not named and not re.search(r"\d|century|centuries|day|year|month|week|yesterday|today|tomorrow", span, re.I)):
                continue  # a month name alone ("May") is too often a word
            if re.fullmatch(rf"{_YEAR}", span) and _NOT_A_YEAR.match(text, m.end()):
                continue
            found.append(Span(span, start, start + len(span), "time"))
    return _longest(found)


def durations(text: str, since: bool = False) -> list[Span]:
    """Lengths of time ("three years", "18 months", "a decade") in text order; with ``since``, also one up to now
    said by when it began ("since 2015"), which answers "how long" but is only a time to "when"."""
    found = [_duration(m) for m in _DURATION.finditer(text) if not _per_period(text, m)]
    if since and (begins := {m.end(): m.start() for m in _SINCE.finditer(text)}):  # reading times costs: only after a "since"
        found += [Span(text[begins[t.start] : t.end], begins[t.start], t.end, "duration") for t in times(text) if t.start in begins]
    return _longest(found)


_SINCE = re.compile(r"\bsince\s+(?:(?:the|early|mid|late)\s+)?", re.IGNORECASE)
_FOR = re.compile(r"for\s+", re.IGNORECASE)


def _duration(m: re.Match[str]) -> Span:
    """The length of time a match says: "for 10 years" answers "how long" as "10 years", since "for" adds nothing
    ("within", "in", "after" and "over" do, and stay)."""
    start = m.start() + (f.end() if (f := _FOR.match(m.group(0))) else 0)
    return Span(m.string[start : m.end()], start, m.end(), "duration")


_CLAUSE_BREAK = re.compile(r"[.;:!?]")
PER_PERIOD_REACH = 60  # characters back from "a year" within which a figure makes it a rate


def _per_period(text: str, m: re.Match[str]) -> bool:
    """Is a bare "a year" / "an hour" the "per" of a figure earlier in its clause ("10,400 tonnes of ore a year")? Then
    it says how often, not how long; "it took a year" has no figure before it and "in 2020 it took a year" a year only."""
    if not re.match(r"an?\s", m.group(0), re.IGNORECASE):
        return False
    start = max(0, m.start() - PER_PERIOD_REACH)
    for q in quantities(text[start : m.start()]):
        if _CLAUSE_BREAK.search(text, start + q.end, m.start()):
            continue
        if not (q.bare and not q.unit and re.fullmatch(_YEAR, q.raw.strip())):
            return True
    return False


def _longest(spans: list[Span]) -> list[Span]:
    """Overlapping spans reduced to the longest of each group, in text order."""
    kept: list[Span] = []
    for s in sorted(spans, key=lambda s: (-(s.end - s.start), s.start)):
        if all(s.end <= k.start or s.start >= k.end for k in kept):
            kept.append(s)
    return sorted(kept, key=lambda s: s.start)
