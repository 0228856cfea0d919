"""A decision laid out for a person: the question as read, the rule that decided, the top candidates' features and scores."""

from __future__ import annotations

from bot.answering.answerer import Decision
from bot.answering.model import AnswerModel


def explain(decision: Decision, model: AnswerModel, top: int = 3, width: int = 110) -> str:
    """Plain text, one fact a line: what ``newsbot ask --explain`` and ``newsbot eval --verbose`` print."""
    lines: list[str] = []
    q = decision.question
    if q is not None:
        terms = ", ".join(
            f"{t.word}{'*' if t.name else ''}{'?' if not t.seen else ''} {t.weight:.1f}" for t in q.terms if not t.history
        )
        lines.append(f"  wants {q.want.value}; terms (idf; * name, ? not in the corpus): {terms or '-'}")
    lines.append(f"  decided by {decision.reason}")
    if decision.short_answer:
        lines.append(f"  short answer: {decision.short_answer}")
    for i, c in enumerate(decision.candidates[:top], start=1):
        quote = _cut(c.text, width - 30)
        lines.append(f"  {i}. score={c.score:+.2f} chunk #{c.rank + 1} {c.hit.doc_id}: “{quote}”")
        if c.spans:
            spans = ", ".join(f"{s.text} ({p:.2f})" for s, p in c.spans[:3])
            lines.append(f"     spans (proximity): {spans}")
        parts = model.passage.contributions(c.features)
        feats = [f"{n}={c.features.get(n, 0.0):.2f}({parts[n]:+.2f})" for n in sorted(parts, key=lambda n: -abs(parts[n]))]
        lines.extend(_wrap("     ", feats, width))
    for e in decision.excluded[:3]:
        lines.append(f"  excluded by {e.rule}: “{_cut(e.sentence, width - 30)}”")
    return "\n".join(lines)


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _wrap(indent: str, items: list[str], width: int) -> list[str]:
    out, line = [], indent
    for item in items:
        if len(line) + len(item) + 1 > width and line.strip():
            out.append(line.rstrip())
            line = indent
        line += item + " "
    if line.strip():
        out.append(line.rstrip())
    return out
