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
    "signed on Nov. 6, in Sept 1760 and on Dec 5",
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
    assert terms("signed on Nov. 6") == terms("signed on November 6")
    assert terms("in Sept 1760") == terms("in September 1760")
    assert terms("the Mar of Sept") == ["mar", "sept"]  # not a month: no period, no day after it


def test_prepositions_and_subordinators_are_not_terms() -> None:
    # A question's topic is its nouns and verbs: "besides", "within", "although" say how things relate, and as
    # terms no article holds they weighed most and made the answer step refuse.
    question = "Which firms within the region, besides the state miner, signed although talks stalled?"
    assert terms(question) == terms("firms region state miner signed talks stalled")


def test_letters_fold_to_ascii_as_a_reader_of_english_writes_them() -> None:
    from index.text import fold_letters, words

    assert terms("When Yesün Temür died in Shangdu") == terms("When Yesun Temur died in Shangdu")
    assert words("São Paulo, Zürich, Gdańsk, Ørsted, Straße") == ["sao", "paulo", "zurich", "gdansk", "orsted", "strasse"]
    assert words("Северный Катпар") == ["severnyy", "katpar"]  # other scripts are transliterated, not dropped
    # Only letters fold: a currency sign stays apart from its number, and a decomposed accent is dropped.
    assert terms("€5 million") == terms("5 million") and "5" in terms("€5 million")
    assert fold_letters("Cafe\u0301") == "Cafe" and fold_letters("plain ascii") == "plain ascii"


def test_ordinals_in_digits_are_the_words_an_article_may_write() -> None:
    from index.text import ordinal_word

    assert terms("Who was Genghis's 3rd son?") == terms("Who was Genghis's third son?")
    assert terms("in the 15th century") == terms("in the fifteenth century")
    assert terms("the 21st century") == terms("the twenty-first century")
    assert [ordinal_word(n) for n in (1, 12, 20, 40, 99)] == ["first", "twelfth", "twentieth", "fortieth", "ninety-ninth"]
    assert "100th" in " ".join(terms("its 100th anniversary"))  # three digits: left as written
