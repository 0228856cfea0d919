"""The answer as every interface sees it (the CLI's JSON is :meth:`Answer.as_dict`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Citation:
    """One numbered source: the article it comes from and the sentence quoted from it."""

    n: int
    doc_id: str
    title: str
    source: str
    published: str
    url: str
    quote: str


@dataclass
class Answer:
    """A question's answer with ``[n]`` markers matching ``citations[].n``."""

    question: str
    answer: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    mode: str = "extractive"
    timings_ms: dict[str, float] = field(default_factory=dict)
    note: str = ""  # why a fallback or refusal happened, for logs and --verbose; not in the JSON contract
    short_answer: str | None = None  # the asked-for name, number, date or place, when the answer step is confident
    # The answer step's decision (retrieved chunks, candidates, features, the rule that decided), for
    # `eval --verbose` and `ask --explain`; not in the JSON.
    trace: Any = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        trace, self.trace = self.trace, None  # asdict would deep-copy it
        try:
            out = asdict(self)
        finally:
            self.trace = trace
        out.pop("note")
        out.pop("trace")
        return out

    def lead(self) -> str:
        """The answer as a person reads it: the short answer in bold (Markdown) first, when there is one."""
        if self.refused or not self.short_answer:
            return self.answer
        return f"**{self.short_answer}** — {self.answer}"


@dataclass(frozen=True)
class Turn:
    """An earlier exchange of a conversation: what was asked and what newsbot answered."""

    question: str
    answer: str = ""
    cited: tuple[str, ...] = ()  # doc ids of the articles the answer quoted: what a follow-up is likely about


REFUSAL = "The articles don't say."
