"""The short answer: the span of the chosen sentence that answers a name/number/time question, when the model is sure.

The chosen sentence's new spans of the wanted kind were ranked by how close each stands to the
question's terms (features.py). The best one is shown in bold before the quote only when the
span model gives it at least the fitted ``span_threshold``: a wrong bold answer is worse than none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bot.answering.candidates import Candidate
from bot.answering.question import Question, Want

SPAN_FEATURES: dict[str, str] = {
    "passage_probability": "the answer model's probability for the passage the span is in",
    "proximity": "1 / (1 + words between the span and the nearest question term)",
    "competitors": "log(1 + other new spans of the wanted kind in the sentence)",
    "margin": "proximity of this span minus that of the next best one",
    "want_name": "the question wants a person, place or other name",
    "want_number": "the question wants a number, amount, percentage or duration",
    "want_time": "the question wants a time",
    "span_words": "log of the span's length in words",
}
"""Every feature of the short-answer model, in weights-file order."""

_NAME_WANTS = {Want.PERSON, Want.PLACE, Want.NAME}
_NUMBER_WANTS = {Want.NUMBER, Want.AMOUNT, Want.MONEY, Want.PERCENT, Want.RATE, Want.DURATION}


def span_features(question: Question, best: Candidate, probability: float) -> dict[str, float] | None:
    """Features of the best span of the chosen passage, or None when there is no span to show."""
    if not question.want.typed or not best.spans:
        return None
    return span_feature_values(question.want, [(span.text, proximity) for span, proximity in best.spans], probability)


def span_feature_values(want: Want, spans: Sequence[tuple[str, float]], probability: float) -> dict[str, float]:
    """:data:`SPAN_FEATURES` of the first of ``spans`` (text, proximity; best first), for the answerer and the fit."""
    text, proximity = spans[0]
    second = spans[1][1] if len(spans) > 1 else 0.0
    return {
        "passage_probability": probability,
        "proximity": proximity,
        "competitors": math.log(1 + len(spans) - 1),
        "margin": proximity - second,
        "want_name": float(want in _NAME_WANTS),
        "want_number": float(want in _NUMBER_WANTS),
        "want_time": float(want is Want.TIME),
        "span_words": math.log(1 + len(text.split())),
    }
