"""Run an eval set and score the answers: pass/fail per row, and the answer-quality figures.

An eval set is a file (one JSON question a line; format in `eval/README.md`) asked of the configured
corpus, or a folder holding its own ``corpus/`` and ``questions.jsonl`` (e.g. ``../shared/eval/squad``).
:class:`Figures` holds the measures the answer step is judged by (issue 10): retrieval (gold answer in the
top-1 / top-5 chunks the answerer read), the gold answer in the first cited sentence and anywhere in the
answer, refusals of answerable and of unanswerable questions, answer length, and the short answer's exact
match and F1 (SQuAD's normalisation) with the share of shown short answers that say a gold answer (:func:`span_holds`).
"""

from __future__ import annotations

import json
import random
import re
import statistics
import string
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.types import Answer, Turn


class EvalFileError(ValueError):
    """The eval file is missing or a line is not a valid row."""


@dataclass(frozen=True)
class EvalRow:
    id: str
    question: str
    expect: str  # "answer" or "refuse"
    facts: list[list[str]]
    sources: list[str]
    history: tuple[Turn, ...] = ()  # earlier turns of the conversation the question follows up, oldest first


@dataclass
class EvalResult:
    row: EvalRow
    answer: Answer
    passed: bool
    why: str


@dataclass(frozen=True)
class EvalSet:
    """Rows to ask, and the corpus they are about (None: the configured corpus)."""

    name: str
    rows: list[EvalRow]
    corpus_dir: Path | None = None


QUESTIONS_FILE = "questions.jsonl"


def open_eval(path: Path, sample: int | None = None, seed: int = 0) -> EvalSet:
    """An eval file, or a folder with ``corpus/`` and ``questions.jsonl``; ``sample`` rows drawn with ``seed`` (in file order)."""
    if path.is_dir():
        corpus, questions = path / "corpus", path / QUESTIONS_FILE
        if not corpus.is_dir() or not questions.is_file():
            raise EvalFileError(f"{path} is a folder but does not hold corpus/ and {QUESTIONS_FILE}")
        rows = read_rows(questions)
    else:
        corpus, rows = None, read_rows(path)
    if sample is not None and sample < len(rows):
        keep = set(random.Random(seed).sample(range(len(rows)), sample))
        rows = [r for i, r in enumerate(rows) if i in keep]
    return EvalSet(path.resolve().name if path.is_dir() else path.name, rows, corpus)


def read_rows(path: Path) -> list[EvalRow]:
    """Parse and validate every row; a bad row is an error naming its line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalFileError(f"cannot read {path}: {exc}") from exc
    rows = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            row = EvalRow(
                id=str(raw.get("id", f"line{n}")),
                question=str(raw["question"]),
                expect=str(raw.get("expect", "answer")),
                facts=[_strings(group, "a facts group") for group in _list(raw.get("facts", []), "facts")],
                sources=_strings(raw.get("sources", []), "sources"),
                history=tuple(_turn(t) for t in raw.get("history", [])),
            )
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise EvalFileError(f"{path}:{n}: not a valid eval row ({exc})") from exc
        if row.expect not in ("answer", "refuse"):
            raise EvalFileError(f"{path}:{n}: expect must be 'answer' or 'refuse', not {row.expect!r}")
        rows.append(row)
    if not rows:
        raise EvalFileError(f"{path} has no rows")
    return rows


def _list(value: object, what: str) -> list:
    """``value`` if it is a JSON list; a string here would be read letter by letter, so it is an error."""
    if not isinstance(value, list):
        raise TypeError(f"{what} must be a list, not {value!r}")
    return value


def _strings(value: object, what: str) -> list[str]:
    """A JSON list of strings (numbers are read as their text): ``["70%", "70 percent"]``."""
    items = _list(value, what)
    if not all(isinstance(item, str | int | float) and not isinstance(item, bool) for item in items):
        raise TypeError(f"{what} must be a list of strings, not {value!r}")
    return [str(item) for item in items]


def _turn(raw: object) -> Turn:
    """An earlier turn of a row's ``history``: ``{"question": ..., "answer": ..., "cited": [doc ids]}`` or a bare
    earlier question."""
    if isinstance(raw, str):
        return Turn(raw)
    if not isinstance(raw, dict):
        raise TypeError(f"a history turn is an object or a string, not {raw!r}")
    return Turn(str(raw["question"]), str(raw.get("answer", "")), tuple(_strings(raw.get("cited", []), "a turn's cited")))


def _canon(text: str) -> str:
    """Lower-case, thousands separators dropped, 'percent' as '%', spaces collapsed: how facts are compared."""
    text = text.lower()
    text = re.sub(r"(?<=\d)[, ](?=\d{3}\b)", "", text)
    text = re.sub(r"\s*(percent|per cent)\b", "%", text)
    return re.sub(r"\s+", " ", text)


def holds_facts(row: EvalRow, text: str) -> bool:
    """Does ``text`` contain one variant of every fact group of ``row`` (compared as :func:`judge` does)?"""
    canon = _canon(text)
    return bool(row.facts) and all(any(_canon(v) in canon for v in group) for group in row.facts)


def judge(row: EvalRow, answer: Answer) -> tuple[bool, str]:
    """Whether an answer passes its row, and if not, why."""
    if row.expect == "refuse":
        return (True, "") if answer.refused else (False, "answered a question the corpus does not answer")
    if answer.refused:
        return False, "refused"
    text = _canon(answer.answer)
    for group in row.facts:
        if not any(_canon(variant) in text for variant in group):
            return False, f"missing fact {group[0]!r}"
    if row.sources and not any(s.lower() in c.title.lower() for c in answer.citations for s in row.sources):
        return False, f"no citation from {row.sources}"
    return True, ""


def run_eval(rows: list[EvalRow], ask: Callable[..., Answer]) -> Iterator[EvalResult]:
    """Ask every row (``ask(question, history)`` for a follow-up) and judge the answer."""
    for row in rows:
        answer = ask(row.question, row.history) if row.history else ask(row.question)
        passed, why = judge(row, answer)
        yield EvalResult(row, answer, passed, why)


# -- the figures -------------------------------------------------------------------------------------------
def squad_normalize(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


_PUNCTUATION = frozenset(string.punctuation) | frozenset("“”‘’—–…")


def span_scores(span: str, golds: Iterable[str]) -> tuple[float, float]:
    """Exact match and token F1 of ``span`` against the best of ``golds`` (SQuAD's definitions)."""
    pred = squad_normalize(span).split()
    best_em = best_f1 = 0.0
    for gold in golds:
        ref = squad_normalize(gold).split()
        best_em = max(best_em, float(pred == ref))
        common = sum((Counter(pred) & Counter(ref)).values())
        if common:
            precision, recall = common / len(pred), common / len(ref)
            best_f1 = max(best_f1, 2 * precision * recall / (precision + recall))
    return best_em, best_f1


def span_holds(span: str, golds: Sequence[str]) -> bool:
    """Is ``span`` a right short answer: an exact match of one of ``golds`` (as :func:`span_scores` has it), or saying one
    as whole words, compared as facts are ("US$14.4 billion" holds "14.4 billion", "6,600 tonnes" holds "6,600", "1995"
    does not hold "5")? Exact match alone is too strict where the gold is the least a right answer must contain, as in
    the news sets' facts."""
    said, exact = _canon(span), squad_normalize(span)
    return any(
        squad_normalize(g) == exact or re.search(rf"(?<![\w.]){re.escape(_canon(g))}(?![\w])", said) for g in golds if g.strip()
    )


def answer_words(text: str) -> int:
    """Words of an answer without its ``[n]`` markers."""
    return len(re.sub(r"\[\d+\]", " ", text).split())


@dataclass
class Figures:
    """Counts behind the quality figures of an eval run (answerable rows: ``expect == "answer"``)."""

    answerable: int = 0
    unanswerable: int = 0
    retrieved_top1: int = 0  # gold in the first chunk the answerer read
    retrieved_top5: int = 0  # gold in one of the first five
    first_sentence: int = 0  # gold in the answer's first cited sentence
    anywhere: int = 0  # gold in the answer text (every fact group)
    answerable_refused: int = 0
    unanswerable_refused: int = 0
    words: list[int] = field(default_factory=list)  # of every answer given (refusals aside)
    spans_shown: int = 0  # answerable rows with a short answer
    em_shown: float = 0.0
    f1_shown: float = 0.0
    right_shown: int = 0  # spans that match a gold answer or say one as whole words (span_holds)
    unanswerable_spans: int = 0  # short answers given to questions the corpus does not answer

    def add(self, row: EvalRow, answer: Answer) -> None:
        if not answer.refused:
            self.words.append(answer_words(answer.answer))
        if row.expect == "refuse":
            self.unanswerable += 1
            self.unanswerable_refused += answer.refused
            self.unanswerable_spans += bool(answer.short_answer) and not answer.refused
            return
        self.answerable += 1
        hits = getattr(answer.trace, "hits", None) or []
        self.retrieved_top1 += any(holds_facts(row, h.text) for h in hits[:1])
        self.retrieved_top5 += any(holds_facts(row, h.text) for h in hits[:5])
        if answer.refused:
            self.answerable_refused += 1
            return
        self.first_sentence += bool(answer.citations) and holds_facts(row, answer.citations[0].quote)
        self.anywhere += holds_facts(row, answer.answer)
        if answer.short_answer:
            golds = [v for group in row.facts for v in group]
            em, f1 = span_scores(answer.short_answer, golds)
            self.right_shown += span_holds(answer.short_answer, golds)
            self.spans_shown += 1
            self.em_shown += em
            self.f1_shown += f1

    def rows(self) -> list[tuple[str, str]]:
        """(figure, value) in the order of issue 10's table."""

        def share(n: float, of: int) -> str:
            return f"{100 * n / of:.1f}% ({n:.0f}/{of})" if of else "-"

        a, u = self.answerable, self.unanswerable
        shown = self.spans_shown
        return [
            ("retrieval: gold in the top-1 chunk (answerable)", share(self.retrieved_top1, a)),
            ("retrieval: gold in the top-5 chunks (answerable)", share(self.retrieved_top5, a)),
            ("gold in the first cited sentence (answerable)", share(self.first_sentence, a)),
            ("gold anywhere in the answer (answerable)", share(self.anywhere, a)),
            ("answerable questions refused", share(self.answerable_refused, a)),
            ("unanswerable questions refused", share(self.unanswerable_refused, u)),
            ("median answer length (answers given)", f"{statistics.median(self.words):.0f} words" if self.words else "-"),
            ("short answers shown (answerable)", share(shown, a)),
            (
                "short answer EM / F1 over the spans shown",
                f"{100 * self.em_shown / shown:.1f}% / {100 * self.f1_shown / shown:.1f}%" if shown else "-",
            ),
            ("short answers shown holding a gold answer", share(self.right_shown, shown)),
            (
                "short answer EM / F1 over all answerable rows",
                f"{100 * self.em_shown / a:.1f}% / {100 * self.f1_shown / a:.1f}%" if a else "-",
            ),
            ("short answers given to unanswerable questions", share(self.unanswerable_spans, u)),
        ]

    def as_dict(self) -> dict[str, str]:
        return dict(self.rows())


def format_table(rows: Sequence[tuple[str, str]]) -> str:
    """Two columns, the figure's name padded."""
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)
