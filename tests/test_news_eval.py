"""The news-shaped eval sets (bench/news_eval.py, eval/news-*): reproducible, well-formed, and right by construction."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench import news_eval
from bench.generate import FIRM_B, FIRST, LAST
from bot.evaluate import judge, read_rows, run_eval
from bot.service import Newsbot
from bot.settings import Settings
from bot.types import Answer, Citation
from index.load import doc_id_for, load_corpus
from tests.conftest import ROOT
from tests.fakes import HashEmbedder

SETS = {name: (ROOT / "eval" / name, articles, seed) for name, (articles, seed) in news_eval.COMMITTED.items()}


def _rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()]


def _asked(row: dict) -> tuple[str, ...]:
    """A question with the conversation it follows ("And how much will it cost?" depends on the turn before)."""
    return (*(t["question"] for t in row.get("history", [])), row["question"])


@pytest.fixture(scope="module", params=sorted(SETS))
def committed(request) -> tuple[Path, list[news_eval.Article], list[dict]]:
    """A committed set's folder, its articles rebuilt in memory (with their facts) and its rows as committed."""
    folder, n_articles, seed = SETS[request.param]
    articles, _ = news_eval.build(n_articles, seed)
    return folder, articles, _rows(folder)


def test_regenerating_gives_the_committed_bytes(tmp_path: Path):
    for name, (folder, n_articles, seed) in SETS.items():
        out = tmp_path / name
        news_eval.write(out, n_articles, seed)
        committed = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
        regenerated = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
        assert committed == regenerated, name
        for rel in committed:
            assert (folder / rel).read_bytes() == (out / rel).read_bytes(), (
                f"{name}/{rel} differs: run the command in eval/README.md"
            )


def test_a_seed_gives_one_set_and_another_seed_another():
    first, rows = news_eval.build(8, seed=3)
    again, rows_again = news_eval.build(8, seed=3)
    other, other_rows = news_eval.build(8, seed=4)
    assert [a.file_text() for a in first] == [a.file_text() for a in again] and rows == rows_again
    assert not {a.body for a in first} & {a.body for a in other}
    assert not {_asked(r) for r in rows} & {_asked(r) for r in other_rows}


def test_the_two_committed_sets_share_no_article_or_question():
    (fit, *_), (report, *_) = SETS["news-fit"], SETS["news-report"]
    fit_titles = {a.title for a in load_corpus(fit / "corpus")}
    report_titles = {a.title for a in load_corpus(report / "corpus")}
    assert len(fit_titles) > 60 and len(report_titles) > 60  # 60 deals, and a second report of some
    assert not fit_titles & report_titles
    fit_rows, report_rows = _rows(fit), _rows(report)
    shared = {_asked(r) for r in fit_rows} & {_asked(r) for r in report_rows}
    # only a few generic questions may recur: refusals ("Who is the president of Serbia?") and what a mineral is
    # used for (the same fact everywhere); never a question whose answer is one article's fact
    assert all(
        r["expect"] == "refuse" or r["kind"] in news_eval.SHARED_FACTS for r in fit_rows + report_rows if _asked(r) in shared
    )
    assert len(shared) <= len(report_rows) // 50


def test_rows_are_valid_for_the_eval_reader_and_half_are_refusals(committed):
    folder, _, raw = committed
    rows = read_rows(folder / "questions.jsonl")
    assert len(rows) == len(raw) >= 300
    assert len({r.id for r in rows}) == len(rows)
    refuse = [r for r in rows if r.expect == "refuse"]
    assert len(refuse) == len(rows) // 2
    assert all(r.facts and r.sources for r in rows if r.expect == "answer")
    assert len({r["kind"] for r in raw if r["expect"] == "answer"}) >= 20  # many kinds of question, not one template
    assert {r["kind"] for r in raw if r["expect"] == "refuse"} == {
        "unstated", "swapped", "other-article", "absent-name", "changed-verb", "absent-number",
    }  # fmt: skip


def test_follow_up_rows_name_the_venture_only_through_the_turn_before(committed):
    """A follow-up row carries the earlier turn (an answer row of the same article, answered with its evidence);
    its question no longer names the venture, asks something else, and its gold answer is not in that question."""
    folder, articles, raw = committed
    rows = {r.id: r for r in read_rows(folder / "questions.jsonl")}
    by_question = {r["question"]: r for r in raw if "history" not in r}
    follow_ups = [r for r in raw if "follow-up" in r.get("tags", [])]
    assert len(follow_ups) >= 80 and sum(r["expect"] == "refuse" for r in follow_ups) == len(follow_ups) // 2
    handles = {a.n: [h for h, _ in news_eval.project_handles(a.slots)] for a in articles}
    for row in follow_ups:
        (turn,) = row["history"]
        first = by_question[turn["question"]]  # the turn before is an answer row of the set
        assert first["expect"] == "answer" and turn["answer"] == f"{first['evidence']} [1]"
        article = int(row["id"].split("-")[1])
        assert first["id"].startswith(row["id"].rsplit("-", 1)[0])  # the same article
        assert turn["cited"] == [doc_id_for(Path(articles[article].file_name))]
        assert not any(h.lower() in row["question"].lower() for h in handles[article]), row["question"]
        assert row["probe"]["relation"] != first["probe"]["relation"]
        assert not any(g.lower() in turn["question"].lower() for group in row["facts"] for g in group)
        assert rows[row["id"]].history[0].question == turn["question"]  # the eval reader keeps the conversation


def test_every_answer_row_is_answered_by_its_source_article_in_so_many_words(committed):
    """Read from the committed files alone: the evidence sentence is in the source article as loaded (cleaned) and
    holds a gold variant; the judge passes an answer that quotes it and cites that article."""
    folder, _, raw = committed
    by_title = {a.title: a for a in load_corpus(folder / "corpus")}
    rows = {r.id: r for r in read_rows(folder / "questions.jsonl")}
    indirect = 0
    for row in (r for r in raw if r["expect"] == "answer"):
        sources = [by_title[title] for title in row["sources"]]  # KeyError: a source that is no article's title
        home = next(a for a in sources if row["evidence"] in a.text)
        citation = Citation(
            n=1,
            doc_id=home.doc_id,
            title=home.title,
            source=home.source,
            published=home.published,
            url=home.url,
            quote=row["evidence"],
        )
        quoted = Answer(
            question=row["question"], answer=f"{row['evidence']} [1]", refused=False, citations=[citation], mode="extractive"
        )
        assert judge(rows[row["id"]], quoted) == (True, ""), row
        indirect += "indirect" in row["tags"]
    assert indirect >= 40  # answers in a sentence that does not repeat the question's names


def test_every_answer_row_has_one_answer_in_the_whole_corpus(committed):
    """From the facts every article states: what the row asks for has one value, stated in its source articles only,
    which report one deal (a mineral's use, the same everywhere, may cite any article that states it)."""
    _, articles, raw = committed
    facts = [f for a in articles for f in a.facts]
    titles = {a.n: a.title for a in articles}
    for row in (r for r in raw if r["expect"] == "answer"):
        found = news_eval.find(facts, row["probe"]["relation"], row["probe"]["where"])
        assert {f.value.gold for f in found} == {tuple(row["facts"][0])}, row
        assert sorted({titles[f.article] for f in found}) == row["sources"], row
        deals = {articles[f.article].deal for f in found}
        assert len(deals) == 1 or row["probe"]["relation"] in news_eval.SHARED_FACTS, row


def test_a_second_report_of_a_deal_holds_what_its_first_leaves_out(committed):
    """A third of the deals has a second report from another outlet, with the deal's own figures; its first report
    leaves out one section on the venture, and the "other-report" follow-ups ask for what only the second states,
    after a turn that quoted the first."""
    _, articles, raw = committed
    seconds = [a for a in articles if a.deal != a.n]
    assert len(seconds) >= 10
    for second in seconds:
        first = articles[second.deal]
        assert first.deal == first.n and second.source != first.source and second.slots is first.slots
        only_second = {f.section for f in second.facts} - {f.section for f in first.facts}
        assert only_second & set(news_eval.ONLY_IN_SECOND_REPORT), second.file_name
    other = [r for r in raw if "other-report" in r.get("tags", [])]
    assert len(other) >= 20 and sum(r["expect"] == "answer" for r in other) == len(other) // 2
    titles = {a.title: a for a in articles}
    facts = [f for a in articles for f in a.facts]
    for row in (r for r in other if r["expect"] == "answer"):
        (source,) = (titles[t] for t in row["sources"])
        first = articles[int(row["id"].split("-")[1])]
        assert source.deal == first.n and source is not first
        assert not news_eval.stated_in(facts, news_eval.Ask("", row["probe"]["relation"], row["probe"]["where"], []), first.n)


def test_the_fit_deals_both_reports_of_a_deal_into_one_fold(committed):
    """The front matter's ``story`` names the deal; the fit's folds keep a story's articles together, so a question
    on a second report is never judged by a model fitted on the first report's questions."""
    from bench.fit_answerer import Item, folds_of, stories

    folder, articles, _ = committed
    story_of = stories(folder)
    assert len(story_of) == len(articles) and len(set(story_of.values())) == sum(a.deal == a.n for a in articles)
    items = [Item(id=a.file_name, article=a.title, answerable=True, facts=[], features=None, labels=None, passages=[], spans=[], want="any") for a in articles]
    fold = folds_of(items, 5, story_of)
    for second in (a for a in articles if a.deal != a.n):
        assert story_of[second.title] == story_of[articles[second.deal].title]
        assert fold[second.title] == fold[articles[second.deal].title]
    assert len(set(fold.values())) == 5


def test_every_refuse_row_asks_for_a_fact_no_article_states(committed):
    folder, articles, raw = committed
    facts = [f for a in articles for f in a.facts]
    text = "\n".join(a.text for a in load_corpus(folder / "corpus")).lower()
    for row in (r for r in raw if r["expect"] == "refuse"):
        probe = row["probe"]
        assert not news_eval.find(facts, probe["relation"], probe["where"], loose=True), row
        for name in probe["absent"]:
            assert name.lower() not in text, row
        named = [part for v in probe["where"].values() if v not in probe["absent"] for part in v.split("|")]
        assert all(name.lower() in text for name in named), row  # the rest of the question is about the corpus


def test_the_fact_record_holds_every_number_person_and_firm_an_article_names(committed):
    """What makes "no fact states it" mean "the text does not say it": nothing numeric or named is left unrecorded."""
    _, articles, _ = committed
    person = re.compile(rf"\b(?:{'|'.join(FIRST)}) (?:{'|'.join(LAST)})\b")
    firm = re.compile(rf"\b(?:{'|'.join(news_eval.FIRM_A_MORE)}) (?:{'|'.join(FIRM_B)})\b")
    for article in articles:
        recorded = " ".join(f"{f.value.shown} {' '.join(f.args.values())}" for f in article.facts)
        body = article.body
        for token in [*re.findall(r"\d[\d,./-]*\d|\d", body), *person.findall(body), *firm.findall(body)]:
            assert token in recorded, (article.file_name, token)


def test_a_source_title_names_one_article_only(committed):
    _, articles, _ = committed
    titles = [a.title for a in articles]
    assert all(sum(t in other for other in titles) == 1 for t in titles)


def test_newsbot_indexes_the_corpus_and_runs_the_questions(tmp_path: Path):
    """The folder works as `NEWSBOT_CORPUS_DIR` + `newsbot eval` (the real pipeline and Chroma, a fake embedder)."""
    folder = SETS["news-report"][0]
    settings = Settings(corpus_dir=folder / "corpus", data_dir=tmp_path / "data", chroma_url=None, _env_file=None)
    bot = Newsbot(settings, embedder=HashEmbedder(), notify=lambda msg: None, auto_build=False)
    report = bot.sync()
    assert report.added == len(list((folder / "corpus").glob("*.md"))) > 60 and not report.skipped, report
    rows = read_rows(folder / "questions.jsonl")
    sample = [rows[0], rows[3]]  # an answer row and a refuse row of the first article
    results = list(run_eval(sample, bot.answer))
    assert [r.row.expect for r in results] == ["answer", "refuse"]
    assert all(r.answer.answer for r in results)
