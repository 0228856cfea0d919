"""The answer model: fitted weights over named features, read from a small JSON file.

``score = bias + sum(weight[name] * (feature[name] - mean[name]) / scale[name])`` is the
log-odds that a candidate passage holds the answer; ``sigmoid(score)`` its probability.
The file is written by ``python -m bench.fit_answerer`` (which says on what it was fitted and
how it did on the articles it was not fitted on) and read here; nothing else sets a weight or a
threshold. Standardised features make the weights comparable: the larger ``|weight|``, the more
that feature moves the decision.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

WEIGHTS_FILE = Path(__file__).with_name("weights.json")


class WeightsError(ValueError):
    """The weights file is missing, malformed, or names a feature the code does not compute."""


@dataclass(frozen=True)
class Linear:
    """A logistic model over named features (standardised with the fit's mean and scale)."""

    names: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def score(self, features: Mapping[str, float]) -> float:
        """Log-odds: bias plus each feature's contribution."""
        return self.bias + sum(self.contributions(features).values())

    def contributions(self, features: Mapping[str, float]) -> dict[str, float]:
        """Each feature's share of the score, by name (what ``--explain`` shows)."""
        return {
            n: w * (float(features.get(n, 0.0)) - m) / s
            for n, w, m, s in zip(self.names, self.weights, self.mean, self.scale, strict=True)
        }

    @classmethod
    def from_dict(cls, data: Mapping, known: set[str] | None = None) -> Linear:
        names = tuple(data["features"])
        if known is not None and (unknown := [n for n in names if n not in known]):
            raise WeightsError(f"the weights name features the code does not compute: {', '.join(unknown)}")
        lengths = {len(names), len(data["weights"]), len(data["mean"]), len(data["scale"])}
        if len(lengths) != 1:
            raise WeightsError("features, weights, mean and scale differ in length")
        return cls(
            names,
            tuple(float(x) for x in data["weights"]),
            float(data["bias"]),
            tuple(float(x) for x in data["mean"]),
            tuple(float(x) or 1.0 for x in data["scale"]),
        )

    def as_dict(self) -> dict:
        return {
            "features": list(self.names),
            "weights": [round(w, 6) for w in self.weights],
            "bias": round(self.bias, 6),
            "mean": [round(m, 6) for m in self.mean],
            "scale": [round(s, 6) for s in self.scale],
        }


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


REFUSAL_FEATURES: dict[str, str] = {
    "passage_score": "the passage model's score for the best candidate (without where-to-look features)",
    "passage_margin": "how far that score is above the second best candidate's",
    "passage_share": "the best candidate's share of the softmax over the shortlist",
}
"""The refusal model's own features; it also reads every candidate feature of the best candidate."""


# Rules that refuse before the refusal model is asked: each reads the best candidate's features, so the fit
# (bench/fit_answerer.py) applies them to its out-of-fold figures exactly as the answerer does. They hold for
# news (where a different name is a different fact) at a small cost on SQuAD; the fit prints that cost.
GATES: dict[str, str] = {
    "name-not-in-articles": "the question names something (a name or number) that no article uses",
    "name-not-in-passage": "the best passage lacks a name or number the question asks about",
    "figure-not-in-passage": "the question asks for a number, amount, share, time or duration and the passage holds none",
    "country-for-who": "the question asks who, and the name the passage puts nearest its terms is a country",
    "asked-thing-not-in-passage": "the question counts a thing (how much nickel) or asks who holds an office (the president of) that the passage does not name",
}
"""The refusing rules, by name, in the order they are tried."""


def gate(features: Mapping[str, float]) -> str | None:
    """The name of the first rule in :data:`GATES` that refuses this best candidate, or None."""
    if features.get("unseen_name", 0.0) > 0:
        return "name-not-in-articles"
    if features.get("names_found", 1.0) < 1:
        return "name-not-in-passage"
    # A typed question is answered by a passage that holds an answer of its type: a sentence that repeats the
    # question's words ("X's share: what X will control") but holds no figure says nothing about the figure.
    if features.get("wanted_missing_figure", 0.0) > 0:
        return "figure-not-in-passage"
    if features.get("span_country_for_who", 0.0) > 0:
        return "country-for-who"
    # "How much nickel will the venture produce?" is not answered by the venture's tonnage of tungsten, nor "Who is
    # the president of X?" by a sentence about X's minister.
    if features.get("thing_missing", 0.0) > 0:
        return "asked-thing-not-in-passage"
    return None


def pick_shortlist(prefilter_scores: Sequence[float], passing: Sequence[bool], size: int) -> list[int]:
    """Which candidates to encode and score: the ``size`` best by the prefilter that the gates pass (none of the
    others can be chosen, so they would only take a place: "The US and Kazakhstan signed ..." for a who
    question); when none passes, the ``size`` best, so the refusal names the best one's gate."""
    order = sorted(range(len(prefilter_scores)), key=lambda i: -prefilter_scores[i])
    return [i for i in order if passing[i]][:size] or order[:size]


@dataclass(frozen=True)
class AnswerModel:
    """The fitted models: which passage (prefilter, passage), whether to answer (refusal), and the short answer (span).

    Without a refusal model the passage model's own probability, ``sigmoid(score)``, is compared with
    ``answer_threshold`` (a pointwise passage model is calibrated that way).
    """

    passage: Linear
    answer_threshold: float  # answer when the answer probability is at least this, else refuse
    refusal: Linear | None = None
    span: Linear | None = None
    span_threshold: float = 1.0  # show the short answer when its probability is at least this
    shortlist: int = 12  # candidates (by the model without sentence similarity) whose sentences are encoded
    prefilter: Linear | None = None  # that model
    meta: dict = field(default_factory=dict, compare=False)  # what it was fitted on, and how it did

    @classmethod
    def load(cls, path: Path = WEIGHTS_FILE) -> AnswerModel:
        return _load(str(path))

    @classmethod
    def from_dict(cls, data: Mapping) -> AnswerModel:
        from bot.answering.features import FEATURES
        from bot.answering.shortanswer import SPAN_FEATURES

        try:
            return cls(
                passage=Linear.from_dict(data["passage"], set(FEATURES)),
                answer_threshold=float(data["answer_threshold"]),
                refusal=Linear.from_dict(data["refusal"], set(FEATURES) | set(REFUSAL_FEATURES)) if data.get("refusal") else None,
                span=Linear.from_dict(data["span"], set(SPAN_FEATURES)) if data.get("span") else None,
                span_threshold=float(data.get("span_threshold", 1.0)),
                shortlist=int(data.get("shortlist", 12)),
                prefilter=Linear.from_dict(data["prefilter"], set(FEATURES)) if data.get("prefilter") else None,
                meta=dict(data.get("meta", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsError(f"malformed answer weights: {exc}") from exc

    def as_dict(self) -> dict:
        return {
            "meta": self.meta,
            "passage": self.passage.as_dict(),
            "refusal": self.refusal.as_dict() if self.refusal else None,
            "answer_threshold": round(self.answer_threshold, 6),
            "prefilter": self.prefilter.as_dict() if self.prefilter else None,
            "shortlist": self.shortlist,
            "span": self.span.as_dict() if self.span else None,
            "span_threshold": round(self.span_threshold, 6),
        }


# Features that say where to look rather than whether a passage answers. The passage model weighs them to choose
# among candidates; the refusal model reads passage scores without them: in a follow-up every passage of the
# conversation's article gains the same large amount, which says nothing about whether the question is answered
# (with it, "And when did production end at the project?" was answered from that article's trade figures).
WHERE_TO_LOOK = ("conversation_article",)


def evidence_score(passage: Linear, features: Mapping[str, float]) -> float:
    """The passage model's score for a candidate without the :data:`WHERE_TO_LOOK` features' contributions."""
    contributions = passage.contributions(features)
    return passage.bias + sum(v for n, v in contributions.items() if n not in WHERE_TO_LOOK)


def refusal_features(scores: list[float], best: Mapping[str, float]) -> dict[str, float]:
    """The refusal model's inputs: the shortlist's passage scores (best first) and the best candidate's features."""
    top = scores[0]
    second = scores[1] if len(scores) > 1 else top - 10.0
    share = 1.0 / sum(math.exp(max(-50.0, s - top)) for s in scores)
    return {"passage_score": top, "passage_margin": top - second, "passage_share": share, **best}


@lru_cache(maxsize=4)
def _load(path: str) -> AnswerModel:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise WeightsError(f"cannot read the answer weights {path}: {exc}") from exc
    return AnswerModel.from_dict(data)
