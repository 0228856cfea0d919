"""The eval figures (bot/evaluate.py): SQuAD's span scores, gold in the first cited sentence, refusals, eval folders."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.evaluate import EvalFileError, EvalRow, Figures, open_eval, read_rows, run_eval, span_holds, span_scores, squad_normalize
from bot.types import REFUSAL, Answer, Citation, Turn


def test_squad_normalisation_and_span_scores():
    assert squad_normalize("The  Spanish, army!") == "spanish army"
    assert span_scores("the Spanish", ["Spanish"]) == (1.0, 1.0)
    em, f1 = span_scores("12,000 mt", ["12,000"])
    assert em == 0.0 and f1 == pytest.approx(2 / 3)
    assert span_scores("Paris", ["Rome", "paris"]) == (1.0, 1.0)
    assert span_scores("Paris", ["Rome"]) == (0.0, 0.0)


def test_a_span_holds_a_gold_answer_said_as_whole_words():
    """A short answer that says the gold with its unit or currency is right, though not an exact match."""
    assert span_holds("US$14.4 billion", ["14.4 billion"]) and span_holds("6,600 tonnes", ["6600"])
    assert span_holds("April 3, 2023", ["April 3"])
    assert not span_holds("1995", ["5"]) and not span_holds("1.5 million", ["5 million"]) and not span_holds("10", ["1"])
    assert not span_holds("Paris", ["Rome", ""])
    assert span_holds("European Court of Justice", ["The European Court of Justice"])  # an exact match, articles aside


def _answer(text: str, quotes: list[str], short: str | None = None, hits: list[str] = ()) -> Answer:
    cites = [Citation(n, "d", "T", "S", "", "", q) for n, q in enumerate(quotes, start=1)]
    trace = SimpleNamespace(hits=[SimpleNamespace(text=h) for h in hits])
    return Answer("q", text, text == REFUSAL, cites, short_answer=short, trace=trace)


def test_figures_count_each_measure():
    row = EvalRow("a", "Who?", "answer", [["Spanish"]], [])
    refuse = EvalRow("b", "Who?", "refuse", [], [])
    f = Figures()
    f.add(row, _answer("He was Spanish. [1] Other. [2]", ["He was Spanish.", "Other."], "Spanish", ["x", "He was Spanish."]))
    f.add(row, _answer("Other. [1] He was Spanish. [2]", ["Other.", "He was Spanish."], "Other", ["He was Spanish."]))
    f.add(row, _answer(REFUSAL, []))
    f.add(refuse, _answer(REFUSAL, []))
    f.add(refuse, _answer("Other words here. [1]", ["Other words here."], "Other"))
    assert (f.answerable, f.unanswerable) == (3, 2)
    assert (f.retrieved_top1, f.retrieved_top5) == (1, 2)
    assert (f.first_sentence, f.anywhere) == (1, 2)
    assert (f.answerable_refused, f.unanswerable_refused) == (1, 1)
    assert f.spans_shown == 2 and f.em_shown == 1.0 and f.unanswerable_spans == 1
    assert sorted(f.words) == [3, 4, 4]
    table = dict(f.rows())
    assert table["answerable questions refused"] == "33.3% (1/3)"
    assert table["short answer EM / F1 over the spans shown"] == "50.0% / 50.0%"
    assert table["short answers shown holding a gold answer"] == "50.0% (1/2)"
    assert table["median answer length (answers given)"] == "4 words"


def test_eval_folder_and_sample(tmp_path: Path):
    folder = tmp_path / "set"
    (folder / "corpus").mkdir(parents=True)
    lines = [f'{{"id": "r{i}", "question": "Q{i}?", "expect": "refuse"}}' for i in range(10)]
    (folder / "questions.jsonl").write_text("\n".join(lines) + "\n")
    evalset = open_eval(folder)
    assert evalset.corpus_dir == folder / "corpus" and len(evalset.rows) == 10
    sample = open_eval(folder, sample=4, seed=1)
    assert len(sample.rows) == 4 and sample.rows == open_eval(folder, sample=4, seed=1).rows
    assert [r.id for r in sample.rows] == sorted((r.id for r in sample.rows), key=lambda x: int(x[1:]))
    (folder / "questions.jsonl").unlink()
    with pytest.raises(EvalFileError, match=r"corpus/ and questions\.jsonl"):
        open_eval(folder)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ('"facts": ["Spanish"]', "a facts group must be a list"),
        ('"facts": "Spanish"', "facts must be a list"),
        ('"sources": "Reuters"', "sources must be a list"),
        ('"facts": [[{"x": 1}]]', "a facts group must be a list of strings"),
        ('"history": [{"question": "Who?", "cited": "kazakhstan-deal"}]', "a turn's cited must be a list"),
    ],
)
def test_a_string_where_a_list_belongs_is_an_error_not_read_letter_by_letter(tmp_path: Path, field: str, message: str):
    """``"facts": ["Spanish"]`` would otherwise be one group of the letters S, p, a, ... that almost any answer holds."""
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "ok", "question": "Who?", "facts": [["Tau", 70]]}\n{"id": "bad", "question": "Who?", ' + field + "}\n")
    with pytest.raises(EvalFileError, match=rf"q\.jsonl:2: .*{re.escape(message)}"):
        read_rows(path)
    path.write_text(path.read_text().splitlines()[0] + "\n")
    assert read_rows(path)[0].facts == [["Tau", "70"]]


def test_a_follow_up_row_is_asked_with_its_conversation(tmp_path: Path):
    path = tmp_path / "q.jsonl"
    path.write_text(
        '{"id": "f", "question": "And who holds the rest?", "expect": "answer", "facts": [["Tau"]],'
        ' "history": [{"question": "What share will Cove control?", "answer": "Cove will control 70% [1]"}, "Why?"]}\n'
        '{"id": "g", "question": "Who?", "history": [7]}\n'
    )
    with pytest.raises(EvalFileError, match=r"q\.jsonl:2"):  # a turn that is neither an object nor a string
        read_rows(path)
    path.write_text(path.read_text().splitlines()[0] + "\n")
    (row,) = read_rows(path)
    assert row.history == (Turn("What share will Cove control?", "Cove will control 70% [1]"), Turn("Why?"))
    asked = []

    def ask(question: str, history=()) -> Answer:
        asked.append((question, tuple(history)))
        return _answer("Tau holds the rest. [1]", ["Tau holds the rest."])

    (result,) = run_eval([row], ask)
    assert result.passed and asked == [("And who holds the rest?", row.history)]
