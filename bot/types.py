"""The answer as every interface sees it (the CLI's JSON is :meth:`Answer.as_dict`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


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

    def as_dict(self) -> dict:
        out = asdict(self)
        out.pop("note")
        return out


@dataclass(frozen=True)
class Turn:
    """An earlier exchange of a conversation: what was asked and what newsbot answered."""

    question: str
    answer: str = ""


REFUSAL = "The articles don't say."
