"""The answer step as a model a maintainer can read: question -> candidates -> features -> score -> decision.

- ``question.py``: the wanted kind of answer, key terms with idf weights, the names asked about;
- ``candidates.py``: sentences of the retrieved chunks, alone and with the sentence they refer back to;
- ``features.py``: the named features of each candidate;
- ``model.py``: the fitted weights (``weights.json``, written by ``python -m bench.fit_answerer``);
- ``shortanswer.py``: the short answer's features;
- ``answerer.py``: the flow, and the :class:`Decision` naming the rule that decided;
- ``explain.py``: a decision laid out for a person (``newsbot ask --explain``, ``newsbot eval --verbose``).
"""

from bot.answering.answerer import Answerer, Decision
from bot.answering.question import Want, wanted

__all__ = ["Answerer", "Decision", "Want", "wanted"]
