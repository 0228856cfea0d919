"""The `newsbot` CLI driven through its real entry point (typer's runner), with the fake-embedder bot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot import cli

CONTRACT = {"question", "answer", "refused", "citations", "mode", "timings_ms", "short_answer"}
CITATION = {"n", "doc_id", "title", "source", "published", "url", "quote"}


@pytest.fixture
def run(fake_bot, monkeypatch):
    monkeypatch.setattr(cli, "_bot", lambda auto_build=True: fake_bot)
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None):
        return runner.invoke(cli.app, list(args), input=stdin)

    return invoke


def test_ask_json_follows_the_contract(run):
    result = run("ask", "--json", "How much antimony did Tajikistan export in 2024?")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == CONTRACT
    assert data["refused"] is False and "17,000" in data["answer"]
    assert data["citations"] and set(data["citations"][0]) == CITATION
    for c in data["citations"]:
        assert f"[{c['n']}]" in data["answer"]
    assert set(data["timings_ms"]) == {"retrieve", "answer", "total"}
    assert data["short_answer"] is None or data["short_answer"] in data["answer"]


def test_ask_prints_answer_and_numbered_sources_for_a_person(run):
    result = run("ask", "How much antimony did Tajikistan export in 2024?")
    assert result.exit_code == 0
    assert "17,000" in result.stdout
    assert (
        "[1] Central Asian nations sign critical mineral deals with US (S&P Global Commodity Insights, 2025-11-07)"
        in result.stdout
    )


def test_refusal_in_json(run):
    data = json.loads(run("ask", "--json", "What is the capital of France?").stdout)
    assert data["refused"] is True and data["citations"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", ""], "empty"),
        (["ask", "x" * 2001], "limit is 2,000"),
        (["ask"], "give a question"),
        (["ask", "--file", "/no/such/file.txt"], "no such file"),
        (["ask", "--since", "yesterday", "tungsten?"], "date like"),
        (["ask", "--since", "2025-W45-1", "tungsten?"], "date like"),  # Python reads ISO week dates too
        (["search", "--until", "20251106", "tungsten"], "date like"),
        (["ask", "--since", "2025-11-08", "--until", "2025-11-06", "tungsten?"], "--since 2025-11-08 is after --until 2025-11-06"),
        (["ask", "\u200b\u200c\u200d\u2060\ufeff \t"], "empty"),  # nothing visible is an empty question
        (["index", "add", "/no/such/article.md"], "no such file"),
        (["index", "remove", "not-an-article"], "no article with id"),
        (["eval", "/no/such/eval.jsonl"], "cannot read"),
    ],
)
def test_user_mistakes_get_one_line_and_nonzero_exit(run, args: list[str], message: str):
    result = run(*args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("blank", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", " \t\n", "\u200b \u3164\ufeff"])
def test_a_question_of_invisible_characters_is_empty_everywhere(blank: str):
    """check_question is what `ask`, `chat`, `ask --file` and Discord's /ask and mentions all call."""
    from bot.service import QuestionError, check_question

    with pytest.raises(QuestionError, match="empty"):
        check_question(blank)
    assert check_question(f"{blank}Who signed?{blank}") == "Who signed?"


def test_ask_file_reads_one_question_a_line_and_writes_one_json_a_line(run):
    stdin = "How much antimony did Tajikistan export in 2024?\n\nWhat is the capital of France?\n"
    result = run("ask", "--json", "--file", "-", stdin=stdin)
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["refused"] for d in lines] == [False, True]
    assert lines[0]["question"].startswith("How much antimony")


def test_ask_file_reports_a_bad_line_and_goes_on(run, tmp_path: Path):
    f = tmp_path / "q.txt"
    f.write_text("x" * 3000 + "\nHow much antimony did Tajikistan export in 2024?\n")
    result = run("ask", "--json", "--file", str(f))
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert "error" in lines[0] and lines[1]["refused"] is False


def test_search_json_lists_ranked_chunks(run):
    result = run("search", "--json", "-k", "3", "Tau-Ken Samruk")
    rows = json.loads(result.stdout)
    assert len(rows) == 3
    assert {"doc_id", "title", "text", "score"} <= set(rows[0])
    assert "Tau-Ken Samruk" in rows[0]["text"]
    assert rows[0]["score"] >= rows[1]["score"] >= rows[2]["score"]


def test_index_commands(run, tmp_path: Path, fake_bot):
    build = json.loads(run("index", "build", "--json").stdout)
    assert build == {"added": 0, "updated": 0, "deleted": 0, "unchanged": 2, "chunks_embedded": 0, "precision": ""}
    article = tmp_path / "mongolia-copper.md"
    article.write_text(
        "---\ntitle: Mongolia copper deal\nsource: Wire\npublished: 2025-12-02\n---\nMongolia agreed to sell 4,000 tons of copper to Japan.\n"
    )
    added = json.loads(run("index", "add", "--json", str(article)).stdout)
    assert added["doc_id"] == "mongolia-copper" and added["chunks"] == 1
    listed = json.loads(run("index", "list", "--json").stdout)
    assert {d["doc_id"] for d in listed} == {
        "mongolia-copper",
        "kazakhstan-tokayev-minerals-deal",
        "spglobal-central-asia-critical-minerals",
    }
    stats = json.loads(run("index", "stats", "--json").stdout)
    assert stats["articles"] == 3 and stats["chunks"] == fake_bot.store.count()
    answer = json.loads(run("ask", "--json", "How much copper will Mongolia sell to Japan?").stdout)
    assert "4,000 tons" in answer["answer"]
    assert run("index", "remove", "mongolia-copper").exit_code == 0
    assert len(json.loads(run("index", "list", "--json").stdout)) == 2


def test_eval_prints_failures_and_score_and_honours_min_pass(run, tmp_path: Path):
    f = tmp_path / "mini.jsonl"
    f.write_text(
        '{"id": "a", "question": "How much antimony did Tajikistan export in 2024?", "expect": "answer", "facts": [["17,000"]], "sources": ["Central Asian"]}\n'
        '{"id": "b", "question": "What is the capital of France?", "expect": "answer", "facts": [["Paris"]], "sources": []}\n'
    )
    result = run("eval", str(f))
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "score 1/2"
    assert any(line.startswith("FAIL b") for line in lines)
    assert run("eval", "--min-pass", "0.9", str(f)).exit_code == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json}\n")
    broken = run("eval", str(bad))
    assert broken.exit_code == 1 and "bad.jsonl:1" in broken.output


AWKWARD = "2001:db8::a:b:1 :thumbsup: [bold]x[/bold] [1]"  # emoji codes, rich markup, a citation-like tag


def test_article_and_user_text_is_printed_exactly_as_it_is(run, fake_bot, tmp_path: Path, monkeypatch):
    from bot.discordbot.feedback_store import FeedbackStore

    title = f"Almaty exchange gateway {AWKWARD}"
    sentence = f"The Almaty exchange moved 12 servers to the address {AWKWARD} on Monday, engineers said."
    f = tmp_path / "gateway.md"
    f.write_text(f'---\ntitle: "{title}"\nsource: "Net :a: Wire [red]"\npublished: 2025-12-03\n---\n{sentence}\n')
    question = f"How many servers did the Almaty exchange move to {AWKWARD}?"

    added = run("index", "add", str(f))
    assert title in added.stdout
    listed = run("index", "list")
    assert title in listed.stdout and "Net :a: Wire [red]" in listed.stdout
    asked = run("ask", "How many servers did the Almaty exchange move?")
    assert f"[1] {title} (Net :a: Wire [red], 2025-12-03)" in asked.stdout
    assert f"“{sentence}”" in asked.stdout
    assert sentence in run("search", "Almaty exchange servers").stdout
    assert f"Q: {question}" in run("ask", "--file", "-", stdin=question + "\n").stdout
    assert f"Q: {question}" in run("chat", stdin=question + "\n").stdout
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"id": "gw", "question": question, "expect": "refuse"}) + "\n")
    assert f"gw [extractive] {question} -- " in run("eval", "--verbose", str(rows)).stdout
    missing = run("ask", "--file", str(tmp_path / AWKWARD))
    assert f"no such file: {tmp_path / AWKWARD}" in missing.output
    store = FeedbackStore.in_data_dir(fake_bot.settings.data_dir)
    store.vote(store.record_answer(fake_bot.answer(question), [1], 1, 1), 42, "down")
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(fake_bot.settings.data_dir))
    assert f"👎 1 👍 0  {question}" in run("feedback").stdout


def test_eval_on_a_folder_prints_the_quality_figures(run, tmp_path: Path, fake_bot, monkeypatch):
    folder = tmp_path / "set"
    (folder / "corpus").mkdir(parents=True)
    (folder / "corpus" / "a.md").write_text("---\ntitle: Copper deal\n---\nMongolia agreed to sell 4,000 tons of copper to Japan.\n")
    (folder / "questions.jsonl").write_text(
        '{"id": "a", "question": "How much copper will Mongolia sell to Japan?", "expect": "answer", "facts": [["4,000"]]}\n'
        '{"id": "b", "question": "Who won the 1998 World Cup?", "expect": "refuse"}\n'
    )
    made = []

    def eval_bot(corpus_dir, data_dir):
        made.append(corpus_dir)
        return fake_bot

    monkeypatch.setattr(cli, "_eval_bot", eval_bot)
    result = run("eval", "--summary", str(folder))
    assert result.exit_code == 0, result.output
    assert made == [(folder / "corpus").resolve()]
    out = result.stdout
    for figure in ("retrieval: gold in the top-1 chunk", "gold in the first cited sentence", "answerable questions refused",
                   "unanswerable questions refused", "median answer length", "short answer EM / F1 over the spans shown"):  # fmt: skip
        assert figure in out
    assert out.strip().splitlines()[-1].startswith("score ")
    assert not any(line.startswith(("FAIL", "PASS")) for line in out.splitlines())  # --summary: figures only


def test_env_example_lists_every_setting() -> None:
    """.env.example is where a user learns the settings: each one there, under the name the environment uses."""
    from bot.settings import Settings

    text = (Path(__file__).resolve().parents[1] / ".env.example").read_text(encoding="utf-8")
    missing = [
        f"NEWSBOT_{name.upper()}"
        for name in Settings.model_fields
        if f"NEWSBOT_{name.upper()}" not in text and not (name == "discord_token" and "DISCORD_TOKEN" in text)
    ]
    assert not missing, missing
