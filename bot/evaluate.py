"""Run an eval file (one JSON question a line; format in `eval/README.md`) and score the answers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.types import Answer


class EvalFileError(ValueError):
    """The eval file is missing or a line is not a valid row."""


@dataclass(frozen=True)
class EvalRow:
    id: str
    question: str
    expect: str  # "answer" or "refuse"
    facts: list[list[str]]
    sources: list[str]


@dataclass
class EvalResult:
    row: EvalRow
    answer: Answer
    passed: bool
    why: str


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
                facts=[list(map(str, group)) for group in raw.get("facts", [])],
                sources=list(map(str, raw.get("sources", []))),
            )
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise EvalFileError(f"{path}:{n}: not a valid eval row ({exc})") from exc
        if row.expect not in ("answer", "refuse"):
            raise EvalFileError(f"{path}:{n}: expect must be 'answer' or 'refuse', not {row.expect!r}")
        rows.append(row)
    if not rows:
        raise EvalFileError(f"{path} has no rows")
    return rows


def _canon(text: str) -> str:
    """Lower-case, thousands separators dropped, 'percent' as '%', spaces collapsed: how facts are compared."""
    text = text.lower()
    text = re.sub(r"(?<=\d)[, ](?=\d{3}\b)", "", text)
    text = re.sub(r"\s*(percent|per cent)\b", "%", text)
    return re.sub(r"\s+", " ", text)


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


def run_eval(rows: list[EvalRow], ask: Callable[[str], Answer]) -> Iterator[EvalResult]:
    for row in rows:
        answer = ask(row.question)
        passed, why = judge(row, answer)
        yield EvalResult(row, answer, passed, why)
