"""Adding, removing and reading article files: unique ids, symlinks, encodings, and what the user is told.

Driven through the CLI (typer's runner, the fake-embedder bot), the service (what Discord's `/add file:` calls)
and, where the terminal's own logging matters, a real `newsbot` process with the hashing embedder.
"""

from __future__ import annotations

import codecs
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot import cli
from bot.discordbot.cogs.library import added_text
from index.load import ArticleError, load_article
from index.store import ChunkStore
from index.sync import Indexer
from tests.conftest import ROOT
from tests.fakes import HashEmbedder

COPPER = "Mongolia agreed to sell 4,000 tons of copper to Japan under a new supply pact, officials said."
IMPOSTOR = "Mongolia agreed to sell 9,999 tons of copper to Japan under a new supply pact, officials said."


def article(title: str, body: str) -> str:
    return f'---\ntitle: "{title}"\nsource: "Wire"\npublished: 2025-12-02\n---\n{body}\n'


@pytest.fixture
def run(fake_bot, monkeypatch):
    monkeypatch.setattr(cli, "_bot", lambda auto_build=True: fake_bot)
    runner = CliRunner()
    return lambda *args: runner.invoke(cli.app, list(args))


@pytest.fixture
def indexed_x(run, corpus_dir: Path) -> Path:
    """`x.md` in the corpus and in the index."""
    path = corpus_dir / "x.md"
    path.write_text(article("Mongolia copper deal", COPPER))
    assert run("index", "build").exit_code == 0
    return path


def titles(bot) -> dict[str, str]:
    return {doc_id: str(d["title"]) for doc_id, d in bot.documents().items()}


# -- one id, one article (finding 4) ---------------------------------------------------------------
@pytest.mark.parametrize("newcomer", ["X.md", "x.txt"])
def test_build_keeps_the_indexed_article_and_skips_a_newcomer_with_its_id(run, fake_bot, corpus_dir, indexed_x, newcomer):
    (corpus_dir / newcomer).write_text(article("Impostor", IMPOSTOR))
    result = run("index", "build")
    assert result.exit_code == 0
    assert f"skipped {newcomer}: its article id 'x' is taken by x.md" in result.stderr
    assert result.stderr.count(newcomer) == 1
    assert titles(fake_bot)["x"] == "Mongolia copper deal"
    assert "4,000 tons" in fake_bot.answer("How much copper will Mongolia sell to Japan?").answer
    assert (corpus_dir / newcomer).exists()  # nothing is deleted: renaming it makes it an article of its own


def test_a_fresh_build_keeps_the_older_of_two_files_with_one_id(tmp_path: Path, corpus_dir: Path):
    old, new = corpus_dir / "y.txt", corpus_dir / "Y.md"
    old.write_text(article("The first Y", COPPER))
    new.write_text(article("The second Y", IMPOSTOR))
    os.utime(old, (1_600_000_000, 1_600_000_000))  # y.txt was there first, though Y.md sorts before it
    indexer = Indexer(ChunkStore(tmp_path / "data"), HashEmbedder(), corpus_dir)
    report = indexer.sync()
    assert report.skipped == ["Y.md: its article id 'y' is taken by y.txt; rename one of them"]
    assert report.files["y"] == old
    os.utime(new, (1_500_000_000, 1_500_000_000))  # now Y.md is the older, but y.txt is the one indexed: it stays
    again = indexer.sync()
    assert again.skipped == report.skipped and again.files["y"] == old and again.unchanged == 3


@pytest.mark.parametrize("name", ["X.md", "x.txt"])
def test_index_add_refuses_a_file_whose_id_is_taken_and_names_the_file(run, fake_bot, corpus_dir, indexed_x, tmp_path, name):
    upload = tmp_path / "upload" / name
    upload.parent.mkdir()
    upload.write_text(article("Impostor", IMPOSTOR))
    result = run("index", "add", str(upload))
    assert result.exit_code == 1
    assert "the article id 'x' is taken by x.md" in result.output
    assert "`newsbot index remove x` first" in result.output  # how to replace it, if that was meant
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (corpus_dir / name).exists()
    assert titles(fake_bot)["x"] == "Mongolia copper deal"


def test_index_add_of_a_file_already_in_the_corpus_says_so_and_changes_nothing(run, corpus_dir, indexed_x, tmp_path):
    copy = tmp_path / "X.md"
    copy.write_bytes(indexed_x.read_bytes())
    result = run("index", "add", str(copy))
    assert result.exit_code == 0
    assert result.stdout.strip() == "already in the corpus as x.md: Mongolia copper deal (x, 1 chunks); nothing changed"
    data = json.loads(run("index", "add", "--json", str(copy)).stdout)
    assert data == {"doc_id": "x", "title": "Mongolia copper deal", "chunks": 1, "file": "x.md", "new": False}
    assert sorted(p.name for p in corpus_dir.iterdir() if p.name.lower().startswith("x")) == ["x.md"]


def test_index_add_reports_the_title_it_indexed(run, fake_bot, corpus_dir, tmp_path):
    new = tmp_path / "mongolia-copper.md"
    new.write_text(article("Mongolia copper deal", COPPER))
    data = json.loads(run("index", "add", "--json", str(new)).stdout)
    assert data == {"doc_id": "mongolia-copper", "title": "Mongolia copper deal", "chunks": 1, "file": "mongolia-copper.md", "new": True}
    assert titles(fake_bot)["mongolia-copper"] == data["title"]


def test_adding_a_seed_article_under_another_case_is_refused_through_the_service(fake_bot, corpus_dir, tmp_path):
    """The finding as it was seen: `/add` (or `index add`) of the real article's name in other case replaced it."""
    seed = "spglobal-central-asia-critical-minerals"
    before = titles(fake_bot)[seed]
    upload = tmp_path / "SPGlobal-Central-Asia-Critical-Minerals.md"
    upload.write_text(article("Planted story", IMPOSTOR))
    with pytest.raises(ArticleError, match=rf"the article id '{seed}' is taken by {seed}.md"):
        fake_bot.add(upload)
    assert titles(fake_bot)[seed] == before
    assert not (corpus_dir / upload.name).exists()


def test_add_reply_for_discord_says_what_was_indexed(fake_bot, corpus_dir, tmp_path):
    new = tmp_path / "mongolia-copper.md"
    new.write_text(article("Mongolia copper deal", COPPER))
    assert added_text(fake_bot.add(new)) == "Added **Mongolia copper deal** (mongolia-copper): 1 chunks indexed. Ask away!"
    same = tmp_path / "Mongolia-Copper.txt"
    same.write_bytes(new.read_bytes())
    assert added_text(fake_bot.add(same)) == (
        "**Mongolia copper deal** (mongolia-copper) is already in the library as `mongolia-copper.md`, "
        "with the same content: nothing changed."
    )


def test_index_remove_deletes_every_file_with_the_id_so_it_stays_gone(run, fake_bot, corpus_dir, indexed_x):
    (corpus_dir / "X.txt").write_text(article("Impostor", IMPOSTOR))
    result = run("index", "remove", "X")  # any case
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "removed x: deleted X.txt, x.md from the corpus; 1 chunks out of the index"
    assert not (corpus_dir / "x.md").exists() and not (corpus_dir / "X.txt").exists()
    assert json.loads(run("index", "build", "--json").stdout)["added"] == 0
    assert "x" not in titles(fake_bot)
    assert "no article with id 'x.md'" in run("index", "remove", "x.md").output


# -- the corpus stays inside its folder (finding 10) ------------------------------------------------
def test_symlinks_out_of_the_corpus_are_skipped_with_a_warning(run, fake_bot, corpus_dir, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.md"
    secret.write_text(article("Payroll", "The zebracorn payroll password is hunter2, the finance office said on Monday."))
    (corpus_dir / "leak.md").symlink_to(secret)
    (corpus_dir / "linked-folder").symlink_to(outside, target_is_directory=True)
    hidden = corpus_dir / ".drafts"
    hidden.mkdir()
    (hidden / "draft.md").write_text(article("Mongolia copper deal", COPPER))
    (corpus_dir / "copper.md").symlink_to(hidden / "draft.md")  # stays inside: read like any file
    (corpus_dir / "same.md").symlink_to(corpus_dir / "kazakhstan-tokayev-minerals-deal.md")  # the same article twice

    result = run("index", "build")
    assert result.exit_code == 0
    assert f"skipped leak.md: symlink to {secret}, outside the corpus folder" in result.stderr
    assert f"skipped linked-folder: symlink to {outside}, outside the corpus folder" in result.stderr
    assert "skipped same.md: symlink to kazakhstan-tokayev-minerals-deal.md, which is indexed itself" in result.stderr
    assert set(titles(fake_bot)) == {"copper", "kazakhstan-tokayev-minerals-deal", "spglobal-central-asia-critical-minerals"}
    found = json.loads(run("search", "--json", "-k", "20", "zebracorn payroll password").stdout)
    assert all("zebracorn" not in hit["text"] for hit in found)
    assert "The articles don't say." in fake_bot.answer("What is the zebracorn payroll password?").answer
    assert secret.exists()


# -- encodings (finding 12) ----------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-8", "utf-32-le"])
def test_text_with_a_byte_order_mark_is_read(tmp_path: Path, encoding: str):
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE, "utf-8": codecs.BOM_UTF8}
    bom["utf-32-le"] = codecs.BOM_UTF32_LE
    path = tmp_path / "almaty.md"
    path.write_bytes(bom[encoding] + article("Almaty café reopens", "The Almaty café reopened on Monday with 40 seats, its owner said.").encode(encoding))
    loaded = load_article(path)
    assert loaded.title == "Almaty café reopens" and loaded.published == "2025-12-02"
    assert loaded.text == "The Almaty café reopened on Monday with 40 seats, its owner said."


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_read_by_where_its_nul_bytes_fall(tmp_path: Path, encoding: str):
    path = tmp_path / "almaty.md"
    path.write_bytes(article("Almaty café reopens", "The Almaty café reopened on Monday with 40 seats, its owner said.").encode(encoding))
    loaded = load_article(path)
    assert loaded.title == "Almaty café reopens" and "40 seats" in loaded.text


def test_nul_bytes_that_are_not_utf16_are_still_binary(tmp_path: Path):
    # NULs in runs (as in an image or an archive) fall on both sides of every byte pair; an odd length cannot be UTF-16.
    for name, raw in [("runs.md", b"Title\n\n" + b"\x00" * 64 + random.Random(3).randbytes(2000)), ("odd.md", "Hi there".encode("utf-16-le") + b"x")]:
        path = tmp_path / name
        path.write_bytes(raw)
        with pytest.raises(ArticleError, match="binary file"):
            load_article(path)


def test_utf16_article_is_indexed_and_binary_files_still_skipped(run, fake_bot, corpus_dir):
    (corpus_dir / "almaty.txt").write_bytes(
        "Almaty café reopens\n\nThe Almaty café reopened on Monday with 40 seats, its owner said.\n".encode("utf-16")
    )
    noise = random.Random(7).randbytes(4000)
    (corpus_dir / "noise.md").write_bytes(codecs.BOM_UTF16_LE + noise)  # a mark, then bytes that are not text
    (corpus_dir / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + noise)
    result = run("index", "build")
    assert "almaty" in titles(fake_bot) and "40 seats" in fake_bot.answer("How many seats does the Almaty café have?").answer
    assert "skipped image.md: binary file" in result.stderr
    assert "skipped noise.md: " in result.stderr and "noise" not in titles(fake_bot)


# -- what the terminal is told (finding 12) -----------------------------------------------------------
# The real CLI in a process of its own, with its own logging set-up, and the hashing embedder for the model.
FAKE_MODEL_CLI = """
import sys
from bot import cli, service
from tests.fakes import HashEmbedder
service.SentenceTransformerEmbedder = lambda *args, **kwargs: HashEmbedder()
sys.argv[0] = "newsbot"
cli.main()
"""


@pytest.mark.parametrize("command", [["index", "build"], ["ask", "How much antimony did Tajikistan export in 2024?"]])
def test_each_skipped_file_is_reported_once(corpus_dir: Path, tmp_path: Path, command: list[str]):
    (corpus_dir / "garbage.md").write_bytes(b"\x00\xff\x00\xfe" * 50)
    env = {**os.environ, "NEWSBOT_CORPUS_DIR": str(corpus_dir), "NEWSBOT_DATA_DIR": str(tmp_path / "data")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", FAKE_MODEL_CLI, *command], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("garbage.md") == 1, done.stderr
    assert "skipped garbage.md: binary file" in done.stderr


def test_index_add_of_a_folder_says_it_is_a_folder(run, tmp_path: Path):
    (tmp_path / "a.md").write_text(article("Mongolia copper deal", COPPER))
    result = run("index", "add", str(tmp_path))
    assert result.exit_code == 1
    assert f"error: {tmp_path} is a folder: give one article file" in result.output
    assert "run `newsbot index build`" in result.output and len(result.output.strip().splitlines()) == 1
