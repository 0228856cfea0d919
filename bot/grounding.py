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

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from index.facts import QUANTITY_PATTERN, dates, quantities
from index.text import ALIAS_NAMES, STOPWORDS, fold_letters, reads_as_instruction, sentences_of, terms, words

__all__ = ["Verdict", "check", "cited_numbers", "claims", "grounded_prefix", "normalize_markers", "quantities", "renumber"]

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


# -- facts: quantities and dates are read by index/facts.py; names here ----------------------------------
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
def _key(word: str) -> str:
    """A word as compared: accents (as the index folds letters), dots, possessive and case removed."""
    word = fold_letters(word)
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
class SourceText:
    """What a source can vouch for: its words, numbers, dates and codes (instruction-like sentences left out)."""

    def __init__(self, text: str) -> None:
        kept = [s for s in sentences_of(text) if not reads_as_instruction(s)]
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
        for alias in set(words(self.text)) & ALIAS_NAMES.keys():  # "U.S." also answers to "United States", "US", "America"
            keys |= ALIAS_NAMES[alias]
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
        if not any(d.same_as(s) for src in scope for s in src.dates):
            return f"the date {d.iso()} is not in {where}"
    for code in codes(rest):
        if _key(code) not in {c for src in scope for c in src.codes}:
            return f"{code!r} is not in {where}"
    rest = _CODE.sub(" ", rest)
    for q in quantities(rest):
        if not any(q.same_as(s) for src in scope for s in src.quantities):
            return f"the number {q.raw!r} is not in {where}"
    rest = QUANTITY_PATTERN.sub(" ", rest)  # "USD", "bn": checked with their numbers, not as names or words
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

