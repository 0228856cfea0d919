"""The fit's comparison tool (bench/compare_features.py) on small synthetic questions: fast, no model, no corpus."""

from __future__ import annotations

import numpy as np
import pytest

from bench import fit_answerer as fa
from bench.compare_features import at_shares, compare, table, without

NAMES = ["sentence_similarity", "signal", "noise"]


def synthetic(n_articles: int = 20, per_article: int = 10, seed: int = 0, source: str = "synthetic") -> list[fa.Item]:
    """Questions of five candidates each; on answerable ones the gold candidate stands out on ``signal`` only."""
    rng = np.random.default_rng(seed)
    items = []
    for a in range(n_articles):
        for q in range(per_article):
            qid = f"a{a}-q{q}"
            answerable = q % 2 == 0
            features = rng.normal(0.0, 0.5, size=(5, len(NAMES)))
            labels = np.zeros(5, dtype=bool)
            passages = ["a sentence that answers nothing"] * 5
            if answerable:
                gold = int(rng.integers(5))
                labels[gold] = True
                features[gold, NAMES.index("signal")] += 1.5
                passages[gold] = f"the answer is {qid}"
            facts = [[qid]] if answerable else []
            items.append(
                fa.Item(
                    id=qid, article=f"article {a}", answerable=answerable, facts=facts, features=features, labels=labels,
                    passages=passages, spans=[[] for _ in range(5)], want="any", source=source,
                )
            )
    return items


def outcome(answerable: bool, probability: float, gold: bool = True) -> fa.Outcome:
    facts = [["right"]] if answerable else []
    item = fa.Item(
        id=f"q{probability}-{answerable}", article="a", answerable=answerable, facts=facts, features=np.zeros((1, 1)),
        labels=np.array([gold]), passages=["right" if gold else "wrong"], spans=[[]], want="any",
    )
    return fa.Outcome(item, 0, probability=probability)


def test_at_shares_sets_each_threshold_on_the_answerable_questions_own_probabilities():
    answerable = [outcome(True, p / 10) for p in range(1, 11)]
    unanswerable = [outcome(False, p) for p in (0.0, 0.15, 0.5, 0.9)]
    figures = at_shares([*answerable, *unanswerable], shares=(0.10, 0.50))
    assert figures["chosen"] == 1.0
    # 10% of the answerable refused: the threshold is their 10% quantile (0.19), below which two unanswerable lie.
    assert figures["una@10%"] == 0.5 and figures["gold@10%"] == pytest.approx(0.9)
    assert figures["una@50%"] == 0.75 and figures["gold@50%"] == pytest.approx(0.5)
    wrong = at_shares([outcome(True, 0.5, gold=False), outcome(True, 0.6)], shares=(0.10,))
    assert wrong["chosen"] == 0.5


def test_without_leaves_out_the_named_columns_and_keeps_the_items():
    items = synthetic(n_articles=2, per_article=2)
    fewer, names = without(items, NAMES, {"signal"})
    assert names == ["sentence_similarity", "noise"]
    assert all(f.features.shape == (5, 2) for f in fewer)
    assert np.array_equal(fewer[0].features[:, 1], items[0].features[:, 2])
    assert items[0].features.shape == (5, 3)  # the originals are untouched


def test_leaving_out_the_one_informative_feature_shows_in_every_figure():
    items = synthetic()
    results = compare({"synthetic": items}, NAMES, {"signal"}, folds=5, story_of={"synthetic": {}}, held_out=synthetic(seed=1, source="held-out"))
    for name in ("synthetic", "held-out"):
        with_, without_ = results[name]
        assert with_["chosen"] > without_["chosen"] + 0.3, (name, with_, without_)
        assert with_["una@20%"] > without_["una@20%"], (name, with_, without_)
    rendered = table(results, {"signal"})
    assert "| synthetic: without signal |" in rendered and "| held-out: difference (points) | +" in rendered
    # A feature that carries nothing changes little.
    noise = compare({"synthetic": items}, NAMES, {"noise"}, folds=5, story_of={"synthetic": {}})["synthetic"]
    assert abs(noise[0]["chosen"] - noise[1]["chosen"]) < 0.1
