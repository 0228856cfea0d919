"""Is a feature worth its place? The answer model with and without it, at fixed shares of answerable questions refused.

    python -m bench.compare_features --drop subject_missing                 # out of fold on the fit sets
    python -m bench.compare_features --drop a,b --held-out eval/news-report # and on a folder the fit never saw

Both sides are fitted from one extraction (the fit's feature cache, made by ``bench.fit_answerer`` when the feature
code changed), so the difference is the features' and not the extraction's: two fresh extractions of the same code
have given out-of-fold figures up to 0.3 points apart. A feature left out is neither weighed nor read by a gate.

The fit's threshold rule moves along the refusal curve with any change, so comparing the figures it prints mixes a
better model with a different trade-off. Here each side's threshold is set instead where it refuses a fixed share
of its own answerable questions (10, 15, 20 and 30%), and at each share the table gives the unanswerable questions
refused and the answerable ones answered from a passage that holds the gold answer. ``chosen`` is the share of
answerable questions whose chosen passage holds the answer, refusing nothing. Out of fold per fit set (folds by
article, as the fit deals them); for ``--held-out``, models fitted on every fit question.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench import fit_answerer as fa

SHARES = (0.10, 0.15, 0.20, 0.30)


def without(items: list[fa.Item], names: list[str], drop: set[str]) -> tuple[list[fa.Item], list[str]]:
    """Copies of ``items`` whose feature matrices lack the ``drop`` columns, and the names left (nothing to drop: the
    items themselves)."""
    if not drop:
        return items, names
    keep = [i for i, n in enumerate(names) if n not in drop]
    return [replace(it, features=it.features[:, keep].reshape(len(it.features), len(keep))) for it in items], [names[i] for i in keep]


def at_shares(outcomes: list[fa.Outcome], shares: tuple[float, ...] = SHARES) -> dict[str, float]:
    """``chosen``; and per share of answerable questions refused, unanswerable refused (``una@10%``) and gold first (``gold@10%``).

    The threshold for a share is that quantile of the answerable questions' answer probabilities; a question a gate
    refused has probability 0 and is refused at every share.
    """
    answerable = [o for o in outcomes if o.item.answerable]
    unanswerable = [o for o in outcomes if not o.item.answerable]
    p_ans = np.array([o.probability for o in answerable])
    p_una = np.array([o.probability for o in unanswerable])
    gold = np.array([fa._gold_in(o) for o in answerable], dtype=bool)
    out = {"chosen": float(gold.mean()) if len(gold) else 0.0}
    for share in shares:
        t = float(np.quantile(p_ans, share)) if len(p_ans) else 0.0
        out[f"una@{share:.0%}"] = float(np.mean(p_una < t)) if len(p_una) else 0.0
        out[f"gold@{share:.0%}"] = float(np.mean(gold & (p_ans >= t))) if len(p_ans) else 0.0
    return out


def compare(
    by_set: dict[str, list[fa.Item]], names: list[str], drop: set[str], folds: int, story_of: dict[str, dict[str, str]], held_out: list[fa.Item] | None = None
) -> dict[str, tuple[dict[str, float], dict[str, float]]]:
    """Per fit set (out of fold) and for the held-out items: the :func:`at_shares` figures with all ``names`` and without ``drop``."""
    results: dict[str, list[dict[str, float]]] = {}
    for side_drop in (set(), drop):
        side_names = [n for n in names if n not in side_drop]
        side_sets = {name: without(its, names, side_drop)[0] for name, its in by_set.items()}
        oof, _ = fa.out_of_fold(side_sets, story_of, side_names, folds)
        for name, its in side_sets.items():
            ids = {it.id for it in its}
            results.setdefault(name, []).append(at_shares([o for o in oof if o.item.id in ids]))
        if held_out is not None:
            fitted = fa.fit_all([it for its in side_sets.values() for it in its], side_names, "ceiling")
            report, _ = without(held_out, names, side_drop)
            outcomes = fa.rank(fitted.prefilter, fitted.passage, report, side_names)
            fa.apply_refusal(fitted.refusal, outcomes)
            results.setdefault("held-out", []).append(at_shares(outcomes))
    return {name: (pair[0], pair[1]) for name, pair in results.items()}


def table(results: dict[str, tuple[dict[str, float], dict[str, float]]], drop: set[str]) -> str:
    """A markdown table: per set, a row with every feature, one without ``drop`` and their difference in points."""
    keys = list(next(iter(results.values()))[0])
    lines = ["| set | " + " | ".join(keys) + " |", "| --- |" + " --- |" * len(keys)]
    for name, (with_, without_) in results.items():
        lines.append(f"| {name}: all features | " + " | ".join(f"{100 * with_[k]:.1f}%" for k in keys) + " |")
        lines.append(f"| {name}: without {', '.join(sorted(drop))} | " + " | ".join(f"{100 * without_[k]:.1f}%" for k in keys) + " |")
        lines.append(f"| {name}: difference (points) | " + " | ".join(f"{100 * (with_[k] - without_[k]):+.1f}" for k in keys) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The answer model with and without some features, at fixed shares of answerable questions refused.")
    parser.add_argument("--drop", required=True, help="features to leave out, comma-separated (bot/answering/features.py FEATURES)")
    parser.add_argument("--set", dest="sets", type=Path, action="append", help="a fit folder (default: the fit's own)")
    parser.add_argument("--held-out", type=Path, help="an eval folder to report on with models fitted on every fit question (e.g. eval/news-report)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--data-root", type=Path, default=fa.ROOT / ".newsbot" / "fit", help="where the folders' indexes live")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from bot.answering.features import FEATURES

    names = list(FEATURES)
    drop = {d.strip() for d in args.drop.split(",") if d.strip()}
    if unknown := sorted(drop - set(names)):
        print(f"error: no such feature: {', '.join(unknown)}", file=sys.stderr)
        return 1
    sets = [s for s in (args.sets or fa.DEFAULT_SETS) if (s / "questions.jsonl").is_file()]
    if not sets:
        print("error: no eval folder found (give --set DIR)", file=sys.stderr)
        return 1
    by_set = fa.load_sets(sets, args.data_root)
    held_out = next(iter(fa.load_sets([args.held_out], args.data_root).values())) if args.held_out else None
    story_of = {s.name: fa.stories(s) for s in sets}
    results = compare(by_set, names, drop, args.folds, story_of, held_out)
    print(table(results, drop))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
