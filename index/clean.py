"""Strip site chrome from article text, keeping the article's own sentences.

Pages pasted or scraped from news sites carry navigation menus, category
lines, photo captions and credits, tag lists and the headline again. The rules
below are general (they look at the shape of a line and how often it repeats),
not a list of one site's menu items.
"""

from __future__ import annotations

import re
from collections import Counter

from index.text import normalize

# Lines that are page furniture wherever they appear on their own.
_CHROME_LINE = re.compile(
    r"^(tags?|topics?|related( articles| stories| content)?|read more|share( this)?( article)?|advertisement|"
    r"subscribe|sign in|log ?in|menu|search|skip to (main )?content|highlights|editor|editors|author|"
    r"products? (&|and) solutions|featured (topics|products)|more (from|on) .*|print|email|comments?|"
    r"most (read|popular)|newsletter|follow us.*|back to top|cookies?.*|all rights reserved.*|"
    r"copyright.*|©.*)\s*:?$",
    re.IGNORECASE,
)
# Lone credit lines under photos: an agency or "Photo: ..." on a line of its own.
_CREDIT_LINE = re.compile(
    r"^((photo|image|picture|credit|source)s?\s*(:|by)\s*.{0,60}|(reuters|ap|afp|getty images|bloomberg|"
    r"associated press|shutterstock|epa|xinhua|tass|anadolu)(\s*/\s*[\w .]+)?)$",
    re.IGNORECASE,
)
_DATE_LINE = re.compile(
    r"^((mon|tues|wednes|thurs|fri|satur|sun)day,?\s*)?"
    r"((jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?\s+\d{4}|"
    r"\d{1,2}\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?,?\s+\d{4}|\d{4}-\d{2}-\d{2})"
    r"([\s,]+\d{1,2}:\d{2}.*)?$",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?\"'”’)]$")
_MAX_HEADING_WORDS = 12
_MINOR = frozenset(
    [
        "a",
        "an",
        "and",
        "as",
        "at",
        "but",
        "by",
        "for",
        "in",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
        "&",
        "-",
        "--",
        "vs",
        "v.",
        "s",
    ]
)


def _is_title_case(line: str) -> bool:
    """True for menu items and section headings: every word capitalised, a number or a minor word."""
    tokens = [t for t in re.split(r"[\s,/|]+", line) if t]
    return all(t[0].isupper() or not t[0].isalpha() or t.lower() in _MINOR for t in tokens)


def _is_furniture(line: str) -> bool:
    return bool(_CHROME_LINE.match(line) or _CREDIT_LINE.match(line) or _DATE_LINE.match(line))


def clean_text(text: str, title: str = "") -> str:
    """Return the article body as paragraphs separated by blank lines, chrome removed.

    Short lines without closing punctuation are kept only when written in
    sentence case (a headline or highlight such as "Landlocked states seek role
    as transit trade hubs"); Title Case ones are menus or section headings.
    A line followed by a lone credit line is a photo caption and goes too.
    """
    lines = [line.strip() for line in normalize(text).split("\n")]
    counts = Counter(line.lower() for line in lines if line)
    title_key = normalize(title).strip().lower()
    kept: list[str] = []
    for i, line in enumerate(lines):
        if not line:
            kept.append("")
            continue
        key = line.lower()
        following = next((nxt for nxt in lines[i + 1 :] if nxt), "")
        is_short = len(line.split()) <= _MAX_HEADING_WORDS and not _SENTENCE_END.search(line)
        if (
            key == title_key
            or _is_furniture(line)
            or (counts[key] > 1 and is_short)  # navigation repeated through the page
            or (is_short and _is_title_case(line))
            or (not _SENTENCE_END.search(line) and _CREDIT_LINE.match(following))  # photo caption
            or not re.search(r"[A-Za-z]{2}", line)
        ):
            continue
        if is_short:
            line = line + "."  # a headline or highlight becomes a sentence of its own
        kept.append(line)
    body = "\n".join(kept)
    return re.sub(r"\n{2,}", "\n\n", body).strip()
