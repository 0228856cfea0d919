"""Fit the answer model (bot/answering/weights.json) on eval folders, split by article, and report out of fold.

    python -m bench.fit_answerer                          # ../shared/eval/squad (+ eval/news-fit when present)
    python -m bench.fit_answerer --set DIR --set DIR2 --folds 5 --out bot/answering/weights.json

Each eval folder holds ``corpus/`` and ``questions.jsonl`` (the eval format; a row's ``sources[0]``
names its article). For every question the real retrieval and the real feature code run
(bot/answering), and each candidate passage is labelled by whether its core sentence holds the
gold answer (unanswerable questions: no candidate does). Then:

1. The articles of each folder are dealt into ``--folds`` folds (sorted by title, round robin; the reports of one
   story, the ``story`` of their front matter, together), so a question is only ever scored by a model fitted on
   *other articles* (and other deals).
2. Per fold: the *prefilter* (logistic regression on every feature but sentence similarity, all
   candidates) picks each question's shortlist; the *passage* model (all features, shortlisted
   candidates) scores it; the refusal threshold is chosen on the training folds (rule below); the
   *span* model (is the best span of the chosen sentence exactly the gold answer?) and its threshold
   likewise. The held-out fold is answered with them: those are the out-of-fold figures printed.
3. The same fit on every question writes the weights file. Deterministic: Newton's method from zero,
   fixed folds, no sampling; the same inputs write the same bytes.

The refusal curve (answerable refused vs unanswerable refused, out of fold) is printed and written
to bench/results/ (as a table, and a PNG when matplotlib is installed). To judge one feature, use
bench/compare_features.py: the figures printed here move with the threshold rule and the extraction's noise.
"""

from __future__ import annotations

import os

# One BLAS thread: the fit's matrices are small, and on a shared 2-core machine a second OpenBLAS thread
# spinning for a busy core made a 6 x 1000 product 700 times slower (0.3 ms -> 200 ms, measured here).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import hashlib
import inspect
import json
import math
import pickle
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SHARED = ROOT.parent / "shared" / "eval"
DEFAULT_SETS = [SHARED / "squad", ROOT / "eval" / "news-fit"]
WEIGHTS = ROOT / "bot" / "answering" / "weights.json"

L2 = 1.0  # ridge penalty on the standardised weights (the bias is not penalised)
SHORTLIST = 6  # candidates per question whose sentence the embedding model encodes at answer time (see the README)
MAX_ANSWERABLE_REFUSED = 0.05  # the refusal rule: see choose_threshold
# The short-answer rule (choose_span_threshold). 80%, not 75%, since a span counts as right when it says the gold
# with more words ("US$14.4 billion"): the bar keeps the bold answers about as often right as under exact match.
SPAN_PRECISION = 0.80


# -- extraction: the real retrieval and features, once per question -----------------------------------------------
@dataclass
class Item:
    """One question as the fit sees it: its candidates' features and labels, and what a decision would show."""

    id: str
    article: str
    answerable: bool
    facts: list[list[str]]
    features: np.ndarray  # candidates x FEATURES
    labels: np.ndarray  # candidate's core holds the gold answer
    passages: list[str]  # each candidate's quoted text
    spans: list[list[tuple[str, float]]]  # each candidate's new spans of the wanted kind, with proximity
    want: str
    source: str = ""  # the eval folder it comes from
    top1: bool = False
    top5: bool = False
    span_inputs: list[dict] = field(default_factory=list)


def _source_hash(dirs: list[Path]) -> str:
    """A key for the extraction cache: the feature code, :func:`extract` itself and the eval folders' files."""
    h = hashlib.sha256()
    for path in sorted([*(ROOT / "bot" / "answering").glob("*.py"), ROOT / "index" / "text.py", ROOT / "index" / "facts.py",
                        ROOT / "index" / "search.py", ROOT / "index" / "keyword.py", ROOT / "bot" / "service.py"]):  # fmt: skip
        h.update(path.read_bytes())
    h.update(inspect.getsource(extract).encode())  # how questions are run (how many chunks they read, say)
    for d in dirs:
        for path in sorted([d / "questions.jsonl", *(d / "corpus").rglob("*")]):
            if path.is_file():
                h.update(str(path.relative_to(d)).encode())
                h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


def extract(folder: Path, data_root: Path, embedder) -> list[Item]:
    """Every question of an eval folder through the real retrieval and feature code."""
    from bot.answering.answerer import Answerer
    from bot.answering.features import FEATURES
    from bot.answering.model import AnswerModel, Linear
    from bot.evaluate import holds_facts, read_rows
    from bot.service import HISTORY_TURNS, Newsbot
    from bot.settings import Settings

    settings = Settings(corpus_dir=folder / "corpus", data_dir=data_root / folder.name, chroma_url=None, _env_file=None)
    bot = Newsbot(settings, embedder=embedder, notify=lambda msg: print(msg, file=sys.stderr))
    bot.sync()
    names = list(FEATURES)
    # A model with no prefilter: every candidate is featurized (the fit makes its own shortlists).
    zero = Linear(tuple(names), (0.0,) * len(names), 0.0, (0.0,) * len(names), (1.0,) * len(names))
    answerer = Answerer(bot.retriever, AnswerModel(zero, 0.5))
    items: list[Item] = []
    rows = read_rows(folder / "questions.jsonl")
    for n, row in enumerate(rows, start=1):
        # A follow-up is retrieved and read with its conversation, and from as many chunks, as `Newsbot.answer` does.
        hits, encoded = bot.retrieve(row.question, k=settings.answer_pool, history=row.history)
        q, cands, _ = answerer.featurize(row.question, hits, row.history[-HISTORY_TURNS:], encoded)
        # Every candidate's sentence similarity, as the answer step gives its shortlist's.
        answerer.sentence_similarity(cands, encoded.vector)
        answerable = row.expect == "answer"
        items.append(
            Item(
                id=row.id,
                # A row without sources (a question no article answers) goes with the article retrieval ranks
                # first for it, so that it is never judged by a model fitted on that article's questions.
                article=(row.sources or [str(hits[0].meta.get("title", "")) if hits else "?"])[0],
                answerable=answerable,
                facts=row.facts,
                features=np.array([[c.features[f] for f in names] for c in cands], dtype=np.float64).reshape(len(cands), len(names)),
                labels=np.array([answerable and holds_facts(row, c.core) for c in cands], dtype=bool),
                passages=[c.text for c in cands],
                spans=[[(s.text, p) for s, p in c.spans] for c in cands],
                want=q.want.value,
                source=folder.name,
                top1=answerable and any(holds_facts(row, h.text) for h in hits[:1]),
                top5=answerable and any(holds_facts(row, h.text) for h in hits[:5]),
            )
        )
        if n % 250 == 0:
            print(f"  {folder.name}: {n}/{len(rows)} questions", file=sys.stderr)
    return items


def load_items(folder: Path, data_root: Path, embedder_factory, any_cache: bool = False) -> list[Item]:
    """Items of a folder, from the cache when neither the feature code nor the folder changed.

    ``any_cache`` takes the newest cache of the folder whatever changed (for trying fit settings quickly;
    never for the weights that are committed).
    """
    key = _source_hash([folder])
    cache = RESULTS / "fit-cache" / f"{folder.name}-{key}.pkl"
    if any_cache and not cache.exists():
        older = sorted((RESULTS / "fit-cache").glob(f"{folder.name}-*.pkl"), key=lambda p: p.stat().st_mtime)
        cache = older[-1] if older else cache
    if cache.exists():
        with cache.open("rb") as fh:
            return _CacheUnpickler(fh).load()
    print(f"extracting features for {folder} (cached in {cache.parent})", file=sys.stderr)
    items = extract(folder, data_root, embedder_factory())
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("wb") as fh:
        pickle.dump(items, fh)
    return items


class _CacheUnpickler(pickle.Unpickler):
    """Reads a cache whichever module wrote it: run as ``python -m bench.fit_answerer`` the items are ``__main__.Item``,
    and bench.compare_features, another ``__main__``, reads the same file."""

    def find_class(self, module: str, name: str):
        if module in ("__main__", __name__) and name == "Item":
            return Item
        return super().find_class(module, name)


def load_sets(sets: list[Path], data_root: Path, any_cache: bool = False) -> dict[str, list[Item]]:
    """Each eval folder's items by folder name, the embedding model loaded only if one must be extracted."""
    embedder = None

    def embedder_factory():
        nonlocal embedder
        if embedder is None:
            from index.embed import SentenceTransformerEmbedder

            embedder = SentenceTransformerEmbedder()
        return embedder

    return {s.name: load_items(s, data_root, embedder_factory, any_cache) for s in sets}


# -- fitting -----------------------------------------------------------------------------------------------
def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = L2, weight: np.ndarray | None = None
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """L2-regularised, row-weighted logistic regression by Newton's method on standardised features."""
    weight = np.ones(len(x)) if weight is None else weight
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -50, 50)))
        grad = z.T @ (weight * (p - y)) + penalty * w
        hess = (z * (weight * p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return w[:-1], float(w[-1]), mean, scale


@dataclass
class Model:
    names: list[str]
    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray

    def score(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.weights + self.bias

    def linear(self):
        from bot.answering.model import Linear

        return Linear(tuple(self.names), tuple(map(float, self.weights)), self.bias, tuple(map(float, self.mean)), tuple(map(float, self.scale)))


def _fit(names: list[str], x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> Model:
    w, b, m, s = fit_logistic(x, y.astype(float), weight=weight)
    return Model(names, w, b, m, s)


def fit_passage(items: list[Item], names: list[str]) -> tuple[Model, Model]:
    """The prefilter (no sentence similarity; every candidate) and the passage model (the shortlists).

    The prefilter is a logistic regression (does this candidate hold the answer?); the passage model
    is a conditional logit over each answerable question's shortlist (which candidate holds it?),
    which ranks better than the pointwise fit (77.6% against 75.6% top-1 out of fold on SQuAD).
    """
    cheap = _cheap_columns(names)
    weight = set_weights(items)
    kept = [it for it in items if len(it.features)]
    xs = [it.features for it in kept]
    ys = [it.labels for it in kept]
    rows = np.concatenate([np.full(len(it.features), weight[it.id]) for it in kept])
    prefilter = _fit([names[i] for i in cheap], np.vstack(xs)[:, cheap], np.concatenate(ys), rows)
    groups = []
    for it in kept:
        if it.answerable:
            keep = _shortlist(prefilter, it, cheap, names)
            if it.labels[keep].any():
                groups.append((it.features[keep], it.labels[keep], weight[it.id]))
    w, b, m, s = fit_conditional_logit(groups)
    return prefilter, Model(names, w, b, m, s)


def fit_conditional_logit(
    groups: list[tuple[np.ndarray, np.ndarray, float]], l2: float = L2
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Weights maximising, per question, the softmax probability of its gold-holding candidates (L2 on standardised features)."""
    from scipy.optimize import minimize  # fit time only

    allx = np.vstack([x for x, _, _ in groups])
    mean = allx.mean(axis=0)
    scale = allx.std(axis=0)
    scale[scale < 1e-9] = 1.0
    zs = [((x - mean) / scale, y, weight) for x, y, weight in groups]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.5 * l2 * float(w @ w), l2 * w
        for z, y, weight in zs:
            s = z @ w
            s = s - s.max()
            e = np.exp(s)
            p = e / e.sum()
            total -= weight * math.log(float(p[y].sum()))
            q = np.zeros_like(p)
            q[y] = p[y] / p[y].sum()
            grad = grad + weight * (z.T @ (p - q))
        return total, grad

    result = minimize(loss, np.zeros(allx.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return result.x, 0.0, mean, scale


def _cheap_columns(names: list[str]) -> list[int]:
    """The columns the prefilter reads: every feature but those read from sentence vectors (features.ENCODED)."""
    from bot.answering.features import ENCODED

    return [i for i, n in enumerate(names) if n not in ENCODED]


def _shortlist(prefilter: Model, it: Item, cheap: list[int], names: list[str]) -> np.ndarray:
    """As the answerer shortlists (model.pick_shortlist): the prefilter's best among the candidates the gates pass."""
    from bot.answering.model import pick_shortlist

    if len(it.features) <= SHORTLIST:
        return np.arange(len(it.features))
    scores = prefilter.score(it.features[:, cheap]).tolist()
    return np.asarray(pick_shortlist(scores, _passing(it, names), SHORTLIST), dtype=int)


_PASSING: dict[tuple[str, str, int], list[bool]] = {}


def _passing(it: Item, names: list[str]) -> list[bool]:
    """Which of the item's candidates the gates pass (gates read features only, so once per question and feature set:
    a feature left out by bench.compare_features is read by no gate either)."""
    key = (it.source, it.id, it.features.shape[1])
    if key not in _PASSING:
        from bot.answering.model import gate

        _PASSING[key] = [gate(dict(zip(names, map(float, row), strict=True))) is None for row in it.features]
    return _PASSING[key]


@dataclass
class Outcome:
    """What the fitted models do with one question."""

    item: Item
    best: int  # index of the chosen candidate among the item's candidates (-1: none)
    refusal_inputs: dict[str, float] = field(default_factory=dict)
    probability: float = 0.0  # the refusal model's: the question is answerable and the chosen candidate holds it
    gate: str | None = None  # the rule of model.GATES that refuses the chosen candidate, if one does

    @property
    def correct(self) -> bool:
        return self.best >= 0 and bool(self.item.labels[self.best])


def rank(prefilter: Model, passage: Model, items: list[Item], names: list[str]) -> list[Outcome]:
    """Each question's chosen candidate and the refusal model's inputs."""
    from bot.answering.model import evidence_score, gate, refusal_features

    cheap = _cheap_columns(names)
    linear = passage.linear()
    out = []
    for it in items:
        if not len(it.features):
            out.append(Outcome(it, -1))
            continue
        keep = _shortlist(prefilter, it, cheap, names)
        scores = passage.score(it.features[keep])
        order = np.argsort(-scores, kind="stable")
        # As the answerer does: the best candidate the gates pass, or (none passing) refused by the top one's gate.
        rows = [dict(zip(names, map(float, it.features[keep[j]]), strict=True)) for j in order]
        passing = [k for k, row in enumerate(rows) if gate(row) is None]
        if not passing:
            out.append(Outcome(it, int(keep[order[0]]), {}, gate=gate(rows[0])))
            continue
        best = int(keep[order[passing[0]]])
        inputs = refusal_features([evidence_score(linear, rows[k]) for k in passing], rows[passing[0]])
        out.append(Outcome(it, best, inputs))
    return out


def fit_refusal(outcomes: list[Outcome]) -> Model:
    """Logistic regression: is the question answerable *and* the chosen candidate right? (refusal inputs).

    Fitted on the questions the gates let through: those are the only ones it decides.
    """
    rows = [o for o in outcomes if o.best >= 0 and o.gate is None]
    names = list(rows[0].refusal_inputs)
    x = np.array([[o.refusal_inputs[n] for n in names] for o in rows])
    weight = set_weights([o.item for o in rows])
    return _fit(names, x, np.array([o.item.answerable and o.correct for o in rows]), np.array([weight[o.item.id] for o in rows]))


def set_weights(items: list[Item]) -> dict[str, float]:
    """Each eval folder weighs the same in a fit, however many questions it has (SQuAD's 3,772 would drown 360 news rows)."""
    sizes: dict[str, int] = {}
    for it in items:
        sizes[it.source] = sizes.get(it.source, 0) + 1
    return {it.id: len(items) / (len(sizes) * sizes[it.source]) for it in items}


def apply_refusal(model: Model, outcomes: list[Outcome]) -> None:
    """Each outcome's answer probability; a gated one gets 0 (refused at every threshold, as the answerer does)."""
    for o in outcomes:
        if o.best >= 0 and o.gate is None:
            z = float(model.score(np.array([[o.refusal_inputs[n] for n in model.names]]))[0])
            o.probability = 1.0 / (1.0 + math.exp(-z))


# -- thresholds ----------------------------------------------------------------------------------------------
GRID = [round(x, 2) for x in np.arange(0.01, 0.99, 0.01)]


def curve(outcomes: list[Outcome]) -> list[dict]:
    """Per threshold: answerable refused, unanswerable refused, gold in the first cited passage (answerable)."""
    rows = []
    ans = [o for o in outcomes if o.item.answerable]
    una = [o for o in outcomes if not o.item.answerable]
    for t in GRID:
        rows.append(
            {
                "threshold": t,
                "answerable_refused": sum(o.probability < t for o in ans) / max(1, len(ans)),
                "unanswerable_refused": sum(o.probability < t for o in una) / max(1, len(una)),
                "gold_first": sum(o.probability >= t and _gold_in(o) for o in ans) / max(1, len(ans)),
            }
        )
    return rows


def choose_threshold(outcomes: list[Outcome], rule: str = "ceiling") -> float:
    """The refusal rule: the threshold on the answer probability, by one of two rules.

    ``ceiling`` (the default) is issue 10's target: the highest threshold that refuses at most 5% of the
    answerable questions the gates pass. ``score`` maximises the eval's own score, each eval folder weighing
    the same: a question counts when it is answered with the gold answer in the first cited passage, or when
    it is unanswerable and refused. A wrong answer and a refused answerable question both score nothing, so
    that threshold refuses where answering is wrong more often than right; with today's features it refuses
    46% of the answerable questions (out of fold), so it is not the default. Ties go to the lower threshold.
    """
    if rule == "ceiling":
        best = GRID[0]
        for row in curve([o for o in outcomes if o.gate is None]):
            if row["answerable_refused"] <= MAX_ANSWERABLE_REFUSED:
                best = row["threshold"]
        return best
    by_source: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_source.setdefault(o.item.source, []).append(o)
    gold = {id(o): _gold_in(o) for o in outcomes}

    def score(t: float) -> float:
        per_source = [
            sum((o.probability >= t and gold[id(o)]) or (not o.item.answerable and o.probability < t) for o in its) / len(its)
            for its in by_source.values()
        ]
        return sum(per_source) / len(per_source)

    return max(GRID, key=lambda t: (score(t), -t))


def _gold_in(o: Outcome) -> bool:
    from bot.evaluate import EvalRow, holds_facts

    if o.best < 0 or not o.item.answerable:
        return False
    return holds_facts(EvalRow(o.item.id, "", "answer", o.item.facts, []), o.item.passages[o.best])


# -- the short answer ---------------------------------------------------------------------------------------
def span_rows(outcomes: list[Outcome], threshold: float) -> list[tuple[dict, float, float, Outcome]]:
    """(span features, right, F1, outcome) for every answered question whose chosen sentence has a span to show. A span
    is right when it matches a gold answer exactly or says one as whole words (``bot.evaluate.span_holds``): the news
    sets' facts are the least a right answer holds, so "US$14.4 billion" is right for "14.4 billion"."""
    from bot.answering.question import Want
    from bot.answering.shortanswer import span_feature_values
    from bot.evaluate import span_holds, span_scores

    rows = []
    for o in outcomes:
        if o.best < 0 or o.probability < threshold:
            continue
        spans = o.item.spans[o.best]
        if not spans:
            continue
        feats = span_feature_values(Want(o.item.want), spans, o.probability)
        text = spans[0][0]
        golds = [v for g in o.item.facts for v in g]
        f1 = span_scores(text, golds)[1] if o.item.answerable else 0.0
        right = float(o.item.answerable and span_holds(text, golds))
        rows.append((feats, right, f1, o))
    return rows


def fit_span(rows) -> Model | None:
    from bot.answering.shortanswer import SPAN_FEATURES

    if len(rows) < 20 or len({em for _, em, _, _ in rows}) < 2:
        return None
    names = list(SPAN_FEATURES)
    x = np.array([[f[n] for n in names] for f, _, _, _ in rows])
    return _fit(names, x, np.array([em for _, em, _, _ in rows]))


def choose_span_threshold(model: Model | None, rows) -> float:
    """The short-answer rule: the lowest threshold at which the spans shown are right (see :func:`span_rows`) at least
    ``SPAN_PRECISION`` of the time."""
    if model is None or not rows:
        return 1.0
    names = model.names
    p = 1 / (1 + np.exp(-model.score(np.array([[f[n] for n in names] for f, _, _, _ in rows]))))
    em = np.array([e for _, e, _, _ in rows])
    for t in GRID:
        shown = p >= t
        if shown.sum() >= 10 and em[shown].mean() >= SPAN_PRECISION:
            return t
    return 1.0


# -- the run -------------------------------------------------------------------------------------------------------
def stories(folder: Path) -> dict[str, str]:
    """Article title -> the story it reports: the front matter's ``story`` (two reports of one deal share it), else the title."""
    import frontmatter

    out: dict[str, str] = {}
    for path in sorted((folder / "corpus").glob("*.md")):
        meta = frontmatter.load(path).metadata
        title = str(meta.get("title", ""))
        out[title] = str(meta.get("story") or title)
    return out


def folds_of(items: list[Item], k: int, story_of: dict[str, str]) -> dict[str, int]:
    """Article -> fold: stories dealt round robin in order (per eval folder, so each fold has some of each); the
    articles of one story share a fold, so no question is judged by a model fitted on another report of its deal."""
    story = {it.article: story_of.get(it.article, it.article) for it in items}
    fold_of_story = {st: i % k for i, st in enumerate(sorted(set(story.values())))}
    return {a: fold_of_story[st] for a, st in story.items()}


def report(outcomes: list[Outcome], threshold_of, span_of) -> dict[str, float]:
    """Issue 10's figures for decisions taken out of fold."""
    from bot.evaluate import answer_words, span_holds, span_scores

    ans = [o for o in outcomes if o.item.answerable]
    una = [o for o in outcomes if not o.item.answerable]
    answered = [o for o in outcomes if o.best >= 0 and o.probability >= threshold_of(o)]
    shown_em = shown_f1 = shown_right = 0.0
    shown = 0
    for o in answered:
        span = span_of(o)
        if span and o.item.answerable:
            golds = [v for g in o.item.facts for v in g]
            em, f1 = span_scores(span, golds)
            shown += 1
            shown_em += em
            shown_f1 += f1
            shown_right += span_holds(span, golds)
    a = max(1, len(ans))
    return {
        "questions": len(outcomes),
        "retrieval_top1": sum(o.item.top1 for o in ans) / a,
        "retrieval_top5": sum(o.item.top5 for o in ans) / a,
        "gold_in_first_passage": sum(o in answered and _gold_in(o) for o in ans) / a,
        "answerable_refused": sum(o not in answered for o in ans) / a,
        "unanswerable_refused": sum(o not in answered for o in una) / max(1, len(una)),
        "answerable_gated": sum(o.gate is not None for o in ans) / a,  # of those refused, by a rule of GATES
        "unanswerable_gated": sum(o.gate is not None for o in una) / max(1, len(una)),
        "median_answer_words": statistics.median([answer_words(o.item.passages[o.best]) for o in answered]) if answered else 0,
        "spans_shown": shown / a,
        "span_em_shown": shown_em / shown if shown else 0.0,
        "span_f1_shown": shown_f1 / shown if shown else 0.0,
        "span_right_shown": shown_right / shown if shown else 0.0,  # exact, or saying the gold as whole words
        "span_em_all": shown_em / a,
        "span_f1_all": shown_f1 / a,
    }


@dataclass
class Fitted:
    """Every model and threshold of the answer step, fitted on one set of questions."""

    prefilter: Model
    passage: Model
    refusal: Model
    threshold: float
    span: Model | None
    span_threshold: float
    outcomes: list[Outcome]  # the fit questions, ranked and given their refusal probability


def fit_all(items: list[Item], names: list[str], refusal_rule: str) -> Fitted:
    """Prefilter and passage models, the refusal model and threshold, the span model and threshold, in that order."""
    prefilter, passage = fit_passage(items, names)
    outcomes = rank(prefilter, passage, items, names)
    refusal = fit_refusal(outcomes)
    apply_refusal(refusal, outcomes)
    threshold = choose_threshold(outcomes, refusal_rule)
    srows = span_rows(outcomes, threshold)
    span = fit_span(srows)
    return Fitted(prefilter, passage, refusal, threshold, span, choose_span_threshold(span, srows), outcomes)


def out_of_fold(
    by_set: dict[str, list[Item]], story_of: dict[str, dict[str, str]], names: list[str], folds: int, refusal_rule: str = "ceiling"
) -> tuple[list[Outcome], dict[str, Fitted]]:
    """Each fold's questions answered by the models fitted on the other folds, and which fit answered each question.

    Each folder's articles are dealt into ``folds`` by :func:`folds_of` with that folder's stories (``story_of``)."""
    items = [it for its in by_set.values() for it in its]
    fold: dict[str, int] = {}
    for name, its in by_set.items():
        fold.update(folds_of(its, folds, story_of[name]))
    oof: list[Outcome] = []
    fitted_for: dict[str, Fitted] = {}
    for f in range(folds):
        train = [it for it in items if fold[it.article] != f]
        test = [it for it in items if fold[it.article] == f]
        if not test:
            continue
        fitted = fit_all(train, names, refusal_rule)
        test_out = rank(fitted.prefilter, fitted.passage, test, names)
        apply_refusal(fitted.refusal, test_out)
        oof += test_out
        fitted_for.update((o.item.id, fitted) for o in test_out)
    return oof, fitted_for


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fit the answer model on eval folders, split by article.")
    parser.add_argument("--set", dest="sets", type=Path, action="append", help="an eval folder (corpus/ + questions.jsonl)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--data-root", type=Path, default=ROOT / ".newsbot" / "fit", help="where the folders' indexes live")
    parser.add_argument("--no-write", action="store_true", help="report only; leave the weights file alone")
    parser.add_argument("--shortlist", type=int, default=SHORTLIST, help="candidates per question whose sentence is encoded")
    parser.add_argument("--refusal-rule", choices=("ceiling", "score"), default="ceiling", help="how to choose the answer threshold")
    parser.add_argument("--any-cache", action="store_true", help="reuse the newest feature cache even if the code changed (trials only)")
    args = parser.parse_args(argv)
    globals()["SHORTLIST"] = args.shortlist  # read by _shortlist
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from bot.answering.features import FEATURES
    from bot.answering.model import AnswerModel

    sets = [s for s in (args.sets or DEFAULT_SETS) if (s / "questions.jsonl").is_file()]
    if not sets:
        print("error: no eval folder found (give --set DIR)", file=sys.stderr)
        return 1
    names = list(FEATURES)
    by_set = load_sets(sets, args.data_root, args.any_cache)
    items = [it for its in by_set.values() for it in its]
    oof, fitted_for = out_of_fold(by_set, {s.name: stories(s) for s in sets}, names, args.folds, args.refusal_rule)
    thresholds = {qid: fitted.threshold for qid, fitted in fitted_for.items()}
    span_thresholds = {qid: (fitted.span, fitted.span_threshold) for qid, fitted in fitted_for.items()}

    def span_of(o: Outcome) -> str | None:
        smodel, st = span_thresholds[o.item.id]
        rows = span_rows([o], 0.0)
        if not rows or smodel is None:
            return None
        feats = rows[0][0]
        p = 1 / (1 + math.exp(-float(smodel.score(np.array([[feats[n] for n in smodel.names]]))[0])))
        return o.item.spans[o.best][0][0] if p >= st else None

    print(f"out of fold ({args.folds} folds by article, reports of one story together), {len(items)} questions from {', '.join(by_set)}:")
    figures = {}
    for name, its in [*by_set.items(), ("all", items)]:
        ids = {it.id for it in its}
        figures[name] = report([o for o in oof if o.item.id in ids], lambda o: thresholds[o.item.id], span_of)
    _print_figures(figures)
    _print_gates(oof, by_set)

    table = curve(oof)
    RESULTS.mkdir(parents=True, exist_ok=True)
    _write_curve(table, RESULTS / "refusal-curve")
    print("\nrefusal curve (out of fold; the threshold is on the refusal model's probability):")
    print(_curve_table(table))

    # The weights: the same fit on every question.
    fitted = fit_all(items, names, args.refusal_rule)
    model = AnswerModel(
        passage=fitted.passage.linear(),
        answer_threshold=fitted.threshold,
        refusal=fitted.refusal.linear(),
        span=fitted.span.linear() if fitted.span else None,
        span_threshold=fitted.span_threshold,
        shortlist=args.shortlist,
        prefilter=fitted.prefilter.linear(),
        meta={
            "fitted_by": "python -m bench.fit_answerer",
            "sets": {name: len(its) for name, its in by_set.items()},
            "folds": args.folds,
            "rules": {
                "answer_threshold": (
                    "threshold maximising the eval score (gold in the first passage, or unanswerable refused), each folder weighing the same"
                    if args.refusal_rule == "score"
                    else f"highest threshold refusing at most {MAX_ANSWERABLE_REFUSED:.0%} of the answerable questions the gates pass (fit set)"
                ),
                "span_threshold": f"lowest threshold at which shown spans are right (exact or holding the gold) >= {SPAN_PRECISION:.0%} (fit set)",
            },
            "out_of_fold": {name: {k: round(v, 4) for k, v in fig.items()} for name, fig in figures.items()},
        },
    )
    print(f"\nanswer_threshold {fitted.threshold:.2f}, span_threshold {fitted.span_threshold:.2f}; weights (standardised features):")
    print(f"  {'feature':22} {'passage':>8} {'refusal':>8}")
    for n in [*fitted.refusal.names]:
        pw = dict(zip(fitted.passage.names, fitted.passage.weights, strict=True)).get(n)
        rw = dict(zip(fitted.refusal.names, fitted.refusal.weights, strict=True))[n]
        print(f"  {n:22} {'' if pw is None else f'{pw:+.3f}':>8} {rw:+8.3f}")
    if not args.no_write:
        args.out.write_text(json.dumps(model.as_dict(), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


def _print_figures(figures: dict[str, dict[str, float]]) -> None:
    keys = [k for k in next(iter(figures.values())) if k != "questions"]
    width = max(len(k) for k in keys)
    print(" " * width + "  " + "  ".join(f"{name[:14]:>14}" for name in figures))
    print(" " * width + "  " + "  ".join(f"{int(fig['questions']):>14}" for fig in figures.values()))
    for k in keys:
        cells = []
        for fig in figures.values():
            v = fig[k]
            cells.append(f"{v:>14.0f}" if k == "median_answer_words" else f"{100 * v:>13.1f}%")
        print(f"{k:{width}}  " + "  ".join(cells))


def _print_gates(outcomes: list[Outcome], by_set: dict[str, list[Item]]) -> None:
    """What each refusing rule of model.GATES costs and gains, per eval folder (out of fold)."""
    from bot.answering.model import GATES

    print("\nrefused by a gate (answerable / unanswerable), out of fold:")
    print(f"  {'gate':24}" + "".join(f"{name:>22}" for name in by_set))
    for rule in GATES:
        cells = []
        for its in by_set.values():
            ids = {it.id for it in its}
            mine = [o for o in outcomes if o.item.id in ids]
            ans = [o for o in mine if o.item.answerable]
            una = [o for o in mine if not o.item.answerable]
            a = sum(o.gate == rule for o in ans) / max(1, len(ans))
            u = sum(o.gate == rule for o in una) / max(1, len(una))
            cells.append(f"{a:6.1%} / {u:6.1%}")
        print(f"  {rule:24}" + "".join(f"{c:>22}" for c in cells))


def _curve_table(rows: list[dict]) -> str:
    lines = ["| threshold | answerable refused | unanswerable refused | gold in first passage |", "| --- | --- | --- | --- |"]
    for r in rows[1::4]:  # every 0.04 from 0.02
        lines.append(
            f"| {r['threshold']:.2f} | {100 * r['answerable_refused']:.1f}% | {100 * r['unanswerable_refused']:.1f}% | {100 * r['gold_first']:.1f}% |"
        )
    return "\n".join(lines)


def _write_curve(rows: list[dict], stem: Path) -> None:
    stem.with_suffix(".md").write_text(_curve_table(rows) + "\n", encoding="utf-8")
    stem.with_suffix(".json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([100 * r["answerable_refused"] for r in rows], [100 * r["unanswerable_refused"] for r in rows], marker=".")
    ax.set_xlabel("answerable questions refused (%)")
    ax.set_ylabel("unanswerable questions refused (%)")
    ax.set_title("Refusal trade-off (out of fold)")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(stem.with_suffix(".png"), dpi=100)


if __name__ == "__main__":
    raise SystemExit(main())
