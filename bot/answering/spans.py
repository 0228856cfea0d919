"""Spans of a sentence that could answer a typed question: names, numbers, amounts, percentages, times, durations.

Numbers and times are read by index/facts.py (one home for them); names are runs of
capitalised words. A span the question already contains is not an answer to it: "When did
England declare war on France?" is not answered by "England" or "France".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from index.facts import Span, durations, quantities, times
from index.text import STOPWORDS, fold_letters

# Lower-case words that may stand inside a name ("University of Paris", "Jerónimo de Ayanz y Beaumont").
_NAME_JOINERS = frozenset({"of", "de", "del", "della", "du", "da", "di", "dos", "van", "von", "der", "den", "al", "el", "la", "le", "y", "bin", "ibn", "the"})
# An institution's name may also go on with "for" after its head word ("Japan Bank for International Cooperation")
# and with "and" once it has said what it is of ("Ministry of Mining and Energy"); after any other name the two
# words join two names ("a loan from Korea Eximbank for Kazakhstan", "Britain and France").
_INSTITUTIONS = frozenset(
    {"agency", "alliance", "association", "authority", "bank", "board", "bureau", "center", "centre", "college", "commission",
     "committee", "corporation", "council", "court", "department", "federation", "foundation", "fund", "institute",
     "league", "ministry", "office", "organisation", "organization", "school", "secretariat", "service", "society",
     "university"}
)  # fmt: skip
# Words that open a sentence with a capital but are never a name ("Several agreements were signed ..."); the
# corpus's own lower-case words (``common``) and the stopwords are the rest of that test.
_OPENERS = frozenset(
    {"several", "every", "another", "various", "numerous", "multiple", "overall", "meanwhile", "however", "still", "later", "earlier",
     "instead", "indeed", "moreover", "furthermore", "nevertheless", "nonetheless", "thus", "hence", "today", "yesterday", "tomorrow"}
)
# What follows a figure that makes it a rate: "per tonne", "a day", "an hour", "/yr", "annually".
_PER = re.compile(r"\s*(?:(?:per|a|an|each|every)\s+\w|/\s*\w|(?:annually|yearly|monthly|weekly|daily|hourly)\b)", re.IGNORECASE)
_TOKEN = re.compile(r"[^\W_][\w'’.&+-]*[\w+]|[^\W_]")
# Where a place is said by its bearing rather than its name: "40 km north of Almaty", "eastern Kazakhstan", "in the
# country's east", "in the north of the island". A "where" question is answered by these as by a name.
_COMPASS = r"(?:north|south|east|west)(?:-?(?:east|west))?"
_CAPITALISED = r"(?-i:[A-Z][\w'’-]*(?:\s+(?:of\s+)?[A-Z][\w'’-]*)*)"
_BEARINGS = re.compile(
    rf"(?:\b\d[\d,.]*\s*(?:km|kilometres|kilometers|miles)\s+)?\b{_COMPASS}\s+of\s+(?:the\s+)?{_CAPITALISED}"
    rf"|\b(?:{_COMPASS}ern|central)\s+{_CAPITALISED}"
    rf"|(?<=\bin\s)the\s+(?:[\w-]+(?:'s|’s)\s+)?(?:far\s+)?(?:{_COMPASS}|centre|center)\b(?:\s+of\s+(?:the\s+)?(?:{_CAPITALISED}|[\w-]+))?",
    re.IGNORECASE,
)


def name_spans(text: str, common: frozenset[str] = frozenset()) -> list[Span]:
    """Runs of capitalised words (joined by "of", "de", ...), a sentence's opening word only if it is no common word."""
    tokens = list(_TOKEN.finditer(text))
    out: list[Span] = []
    run: list[re.Match[str]] = []

    def close() -> None:
        while run and (run[-1].group(0).lower() in _NAME_JOINERS or run[-1].group(0) in ("and", "for")):
            run.pop()
        while run and (run[0].group(0).lower() in STOPWORDS or run[0].group(0).lower() in _NAME_JOINERS):
            run.pop(0)
        if run:
            first = run[0]
            opening = first.start() == 0 or text[max(0, first.start() - 2) : first.start()].strip() in ('"', "“", "(")
            lower = first.group(0).lower()
            # A plural opens a sentence as often as its singular ("Costs to develop ..." where the corpus says "cost").
            plural_of_common = lower.endswith("s") and lower[:-1] in common
            lone_common = len(run) == 1 and (lower in common or plural_of_common or lower in STOPWORDS or lower in _OPENERS)
            if not (opening and lone_common) and not (len(run) == 1 and first.group(0) == "I"):
                end = run[-1].end()
                if re.search(r"\w['’]s$", text[first.start() : end]):
                    end -= 2  # "John Myhill's proof": the name is John Myhill
                out.append(Span(text[first.start() : end], first.start(), end, "name"))
        run.clear()

    for tok in tokens:
        word = tok.group(0)
        gap = text[run[-1].end() : tok.start()] if run else ""
        if run and gap.strip() not in ("",):  # punctuation between two words ends a name
            close()
        if run and run[-1].group(0) == "and" and not (word[0].isupper() and not is_country(word)):
            close()  # "the Bank of England and the Treasury", "the Ministry of Energy and Ukraine": two names
        if text[tok.end() : tok.end() + 1] == "$":  # "US$850 million" is an amount, not a name
            close()
            continue
        if word[0].isupper() or (run and (word.lower() in _NAME_JOINERS or _institution_goes_on(run, word.lower()))):
            run.append(tok)
        else:
            close()
    close()
    return out


def _institution_goes_on(run: list[re.Match[str]], word: str) -> bool:
    """May ``word`` ("for", "and") carry on the name in ``run``? Only an institution's (see ``_INSTITUTIONS``)."""
    said = [t.group(0).lower() for t in run]
    if word == "for":
        return said[-1] in _INSTITUTIONS
    if word == "and" and "of" in said:
        of = said.index("of")
        return of > 0 and said[of - 1] in _INSTITUTIONS
    return False


def number_spans(text: str, counts: bool = False) -> list[Span]:
    """Amounts with their unit: money, percentages and other numbers, times (years, dates) left out.

    With ``counts`` a plain number is a "count", what "how many" and "how much" ask for, and one inside a length of
    time is none: the "two" of "within two years" counts nothing (but "25" of "25 years old" answers "how old").
    """
    taken = [(s.start, s.end) for s in times(text)]
    lengths = [(s.start, s.end) for s in durations(text)] if counts else []
    out = []
    for q in quantities(text):
        if any(a <= q.start < b or a < q.end <= b for a, b in taken):
            continue  # a year or a date's day
        if q.bare and not q.unit and re.fullmatch(r"1[0-9]{3}|20[0-9]{2}", q.raw.strip()):
            continue  # a year written alone
        kind = "money" if q.money else "percent" if q.percent else "count" if counts else "number"
        if kind == "count" and any(a <= q.start < b for a, b in lengths):
            continue
        end = q.end
        if q.unit and not q.money and not q.percent:
            end = q.end + len(text[q.end :]) - len(text[q.end :].lstrip()) + len(q.unit)
            end = min(end, len(text))
        out.append(Span(text[q.start : end], q.start, end, kind))
    return out


def spans(text: str, kinds: Iterable[str], common: frozenset[str] = frozenset()) -> list[Span]:
    """Every span of the given kinds in ``text``, in text order."""
    return list(_spans(text, tuple(sorted(set(kinds))), common))


# A warm process reads the same sentences for question after question (a third of the answer step's time was
# finding their spans); spans are frozen, so the cached ones are shared safely.
@lru_cache(maxsize=16384)
def _spans(text: str, kind_list: tuple[str, ...], common: frozenset[str]) -> tuple[Span, ...]:
    kinds = set(kind_list)
    out: list[Span] = []
    places = [Span(m.group(0), m.start(), m.end(), "place") for m in _BEARINGS.finditer(text)] if "place" in kinds else []
    if "name" in kinds:
        # "Nov." of "a Nov. 6 meeting" is capitalised, but it is a date's month, not a name; "GW" of "18-20 GW" and
        # "MT" of "12,000 MT" are an amount's unit; "Almaty" of "40 km north of Almaty" is part of a place said by
        # its bearing.
        taken = [(t.start, t.end) for t in times(text)] + [(q.start, q.end) for q in number_spans(text)] + [(p.start, p.end) for p in places]
        out += [n for n in name_spans(text, common) if not any(a < n.end and n.start < b for a, b in taken)]
    out += places
    if kinds & {"number", "money", "percent", "count", "rate"}:
        figures = number_spans(text, counts="count" in kinds)
        out += [s for s in figures if s.kind in kinds]
        if "rate" in kinds:
            # A rate is a figure per something ("12 per 1,000", "40 tonnes a day"); "1.7 million tons of ore" is none.
            out += [Span(s.text, s.start, s.end, "rate") for s in figures if s.kind == "number" and _PER.match(text, s.end)]
    if "time" in kinds:
        out += times(text)
    if "duration" in kinds:
        # "How long has it been mined?" is answered by "since 2015"; to "When ...?" the time alone is the answer.
        out += durations(text, since="time" not in kinds)
    return tuple(sorted(out, key=lambda s: s.start))


def is_new(span: Span, mentioned: set[str]) -> bool:
    """Does the span say something the question does not? "Kazakh" is not new to a question about Kazakhstan."""
    parts = [fold_letters(p.lower().strip(".,'’\"()")) for p in span.text.split()]  # "Ögedei" is the question's "Ogedei"
    parts = [p.split("'")[0].split("’")[0] for p in parts if p]
    return any(p not in STOPWORDS and p not in _NAME_JOINERS and not _said(p, mentioned) for p in parts)


def _said(word: str, mentioned: set[str]) -> bool:
    """The word, or a form of it sharing its first five letters (a demonym, a plural), is in the question."""
    if word in mentioned:
        return True
    return len(word) >= 5 and any(len(m) >= 5 and m[:5] == word[:5] for m in mentioned)


def new_spans(text: str, kinds: Iterable[str], mentioned: set[str], common: frozenset[str] = frozenset()) -> list[Span]:
    """The spans of the given kinds that the question does not already contain."""
    return [s for s in spans(text, kinds, common) if is_new(s, mentioned)]


_COUNTRIES: frozenset[str] | None = None


def is_country(name: str) -> bool:
    """A country's name or common short form ("Kazakhstan", "the United States", "U.S."), from pycountry."""
    global _COUNTRIES
    if _COUNTRIES is None:
        import pycountry

        names = {"us", "u.s", "usa", "america", "uk", "britain", "united states", "united kingdom"}
        for c in pycountry.countries:
            for attr in ("name", "common_name", "official_name"):
                if value := getattr(c, attr, None):
                    names.add(value.lower())
        _COUNTRIES = frozenset(names)
    key = re.sub(r"^the\s+|['’]s$", "", name.lower().strip(" .,"))
    if key in _COUNTRIES:
        return True
    # A demonym or a country's adjective shares its first five letters ("Kazakh", "Uzbek", "American").
    return " " not in key and len(key) >= 5 and key[:5] in _country_prefixes()


_PREFIXES: frozenset[str] | None = None


def _country_prefixes() -> frozenset[str]:
    global _PREFIXES
    if _PREFIXES is None:
        is_country("")  # loads _COUNTRIES
        _PREFIXES = frozenset(n[:5] for n in _COUNTRIES or () if " " not in n and len(n) >= 5)
    return _PREFIXES
