"""The shared tokenizer (index/text.py): alias folding, and the hints that let it skip regex passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.text import _ALIASES, fold_aliases, terms

ROOT = Path(__file__).resolve().parents[1]

# Every spelling the alias table knows, in running text: each pattern must match one of them.
SPELLINGS = [
    "U.S. and U. S. A. officials",
    "the US and the USA",
    "the United States of America and the united states",
    "American firms and Americans",
    "U.K. and UK buyers",
    "the United Kingdom, Britain and British banks",
    "E.U. and EU rules",
    "the European Union",
    "up 5%, 3.5 per cent, 7 percent and 2 PERCENT",
    "Ex-Im and EXIM banks",
    "CEOs, the CEO and the chief executive officer",
    "a MoU, two MOUs",
    "a JV and JVs",
    "12,000 metric tons, 5 tonnes, 40 mt and 1 metric ton",
]


def _sample_texts() -> list[str]:
    texts = list(SPELLINGS)
    for path in sorted((ROOT / "corpus").glob("*.md")):
        texts.extend(line for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    for path in (ROOT / "eval" / "newsbot.jsonl",):
        texts.extend(json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return texts


def _fold_every_pattern(text: str) -> str:
    for pattern, repl, _ in _ALIASES:
        text = pattern.sub(repl, text)
    return text


@pytest.mark.parametrize("index", range(len(_ALIASES)))
def test_each_alias_hint_is_present_wherever_its_pattern_matches(index: int) -> None:
    pattern, _, hints = _ALIASES[index]
    matched = [text for text in _sample_texts() if pattern.search(text)]
    assert matched, f"no sample text exercises alias {pattern.pattern!r}"
    for text in matched:
        assert any(hint in text.lower() for hint in hints), (pattern.pattern, text)


def test_folding_with_hints_equals_running_every_pattern() -> None:
    for text in _sample_texts():
        assert fold_aliases(text) == _fold_every_pattern(text), text


def test_aliases_fold_to_one_term() -> None:
    assert terms("U.S. output") == terms("United States output") == terms("American output")
    assert terms("12,000 tonnes") == terms("12,000 metric tons")
    assert "percent" in terms("up 5%")


def test_prepositions_and_subordinators_are_not_terms() -> None:
    # A question's topic is its nouns and verbs: "besides", "within", "although" say how things relate, and as
    # terms no article holds they weighed most and made the answer step refuse.
    question = "Which firms within the region, besides the state miner, signed although talks stalled?"
    assert terms(question) == terms("firms region state miner signed talks stalled")
