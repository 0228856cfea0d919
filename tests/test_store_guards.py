"""What must never cost a healthy index (issue 13, findings 3, 6, 7 and two of 12).

- a missing or empty corpus folder is refused instead of deleting every article;
- a data dir that cannot be written is told apart from a damaged one (whose advice is to move it aside);
- a store whose vectors are gone (HNSW folder deleted) is named as such, and `index build` re-embeds it;
- `newsbot feedback` reads the votes from a read-only data dir;
- half-written keyword snapshot folders of killed processes are swept, and `./data`, `/abs/data` and
  `data/../data` share one snapshot.

Read-only data dirs: root ignores permission bits, and CI runs as root. As root the tests make the folder
immutable (`chattr +i`, which binds root too) and skip, saying why, where that is not possible; as
another user they chmod it. The error classification itself is also tested with Chroma's own error
text injected, which runs everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import chromadb
import chromadb.errors
import pytest
from typer.testing import CliRunner

import index.keyword as keyword
from bot import cli
from bot.discordbot.feedback_store import FeedbackStore
from bot.types import Answer
from index.keyword import KeywordIndex, snapshot_root, sweep_temp_folders
from index.store import ChunkStore, StoreDamagedError, StoreError, StoreUnwritableError, VectorsMissingError, diagnose
from index.sync import CorpusError, Indexer
from tests.fakes import HashEmbedder
from tests.scale_helpers import assert_same_store, cli_env, fake_cli, fresh_build, make_corpus, report_of
from tests.test_writers import GENERATED, QUESTION

NEVER_DELETE = ("aside", "(or delete it)", "Move that folder")


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` and everything in it read-only for this process, root included (see the module docstring)."""
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "-R", "+i", str(folder)], capture_output=True, text=True)
        if done.returncode != 0:
            subprocess.run(["chattr", "-R", "-i", str(folder)], capture_output=True)
            pytest.skip(
                f"running as root, and `chattr +i` is not available here ({done.stderr.strip()}): root ignores file modes"
            )
        try:
            yield
        finally:
            subprocess.run(["chattr", "-R", "-i", str(folder)], check=True)
        return
    paths = [folder, *folder.rglob("*")]
    modes = {p: p.stat().st_mode for p in paths}
    for p in reversed(paths):
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        yield
    finally:
        for p in paths:
            p.chmod(modes[p])


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The real CLI in this process with the hashing embedder; settings from the environment like a user's."""
    from tests.fake_cli import _bot

    monkeypatch.chdir(tmp_path)  # no .env from the repo
    monkeypatch.setattr(cli, "_bot", _bot)
    runner = CliRunner()

    def invoke(env: dict[str, Path | str], *args: str):
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        return runner.invoke(cli.app, list(args))

    return invoke


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), output
    assert "Traceback" not in output
    return lines[0]


# -- finding 3: a missing or empty corpus folder -------------------------------------------------------
def test_a_missing_or_empty_corpus_folder_never_empties_the_index(run_cli, tmp_path: Path, corpus_dir: Path) -> None:
    data = tmp_path / "data"
    built = run_cli({"NEWSBOT_DATA_DIR": data, "NEWSBOT_CORPUS_DIR": corpus_dir}, "index", "build")
    assert built.exit_code == 0, built.output
    chunks = ChunkStore(data).count()
    empty = tmp_path / "empty"
    (empty / "notes").mkdir(parents=True)
    (empty / "notes" / "todo.docx").write_text("not an article type")

    for folder, why in ((tmp_path / "no-such-dir", "does not exist"), (empty, "holds no article files")):
        result = run_cli({"NEWSBOT_CORPUS_DIR": folder}, "index", "build")
        assert result.exit_code == 1
        line = one_error_line(result.output)
        assert str(folder) in line and why in line and "nothing was changed" in line and "--allow-empty" in line, line
        assert ChunkStore(data).count() == chunks, "the index was touched"

    emptied = run_cli({"NEWSBOT_CORPUS_DIR": empty}, "index", "build", "--allow-empty")
    assert emptied.exit_code == 0 and "deleted 2" in emptied.output, emptied.output
    assert ChunkStore(data).count() == 0


def test_the_first_run_and_the_service_refuse_a_corpus_that_is_not_there(run_cli, tmp_path: Path, fake_bot) -> None:
    nowhere = tmp_path / "no-such-dir"
    result = run_cli({"NEWSBOT_DATA_DIR": tmp_path / "fresh-data", "NEWSBOT_CORPUS_DIR": nowhere}, "ask", QUESTION)
    assert result.exit_code == 1
    line = one_error_line(result.output)
    assert "the index is empty" in line and f"the corpus folder {nowhere} does not exist" in line, line

    # What the bot's /reindex calls: the same refusal, and the index keeps its articles.
    chunks = fake_bot.store.count()
    fake_bot.indexer.corpus_dir = nowhere
    with pytest.raises(CorpusError, match="does not exist"):
        fake_bot.sync()
    assert fake_bot.store.count() == chunks


# -- finding 6: a data dir that cannot be written ---------------------------------------------------
@pytest.mark.parametrize(
    ("chroma_error", "expected"),
    [
        # Chroma's own texts: an existing store in a read-only folder, then a new one.
        ("error returned from database: (code: 8) attempt to write a readonly database", StoreUnwritableError),
        ("Operation not permitted (os error 1)", StoreUnwritableError),
        ("Permission denied (os error 13)", StoreUnwritableError),
        ("error returned from database: (code: 26) file is not a database", StoreDamagedError),
        ("Error executing plan: Internal error: Error finding id", VectorsMissingError),
    ],
)
def test_store_errors_are_told_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chroma_error: str, expected: type[StoreError]
) -> None:
    def refuse(*args, **kwargs):
        raise chromadb.errors.InternalError(chroma_error)

    monkeypatch.setattr(chromadb, "PersistentClient", refuse)
    with pytest.raises(StoreError) as info:
        ChunkStore(tmp_path / "data")
    assert type(info.value) is expected
    message = str(info.value)
    assert "\n" not in message
    if expected is StoreUnwritableError:
        assert "cannot write" in message and "not damaged" in message and "do not delete" in message
        assert not any(advice in message for advice in NEVER_DELETE), message
    if expected is VectorsMissingError:
        assert "lost its vectors" in message and "newsbot index build" in message
    assert type(diagnose(tmp_path / "data", chromadb.errors.InternalError(chroma_error))) is expected


def test_a_read_only_data_dir_is_called_unwritable_never_damaged(tmp_path: Path, corpus_dir: Path) -> None:
    data = tmp_path / "data"
    fresh_build(corpus_dir, data)
    env = cli_env(corpus_dir, data)
    with read_only(data):
        for args in (["index", "stats"], ["ask", QUESTION], ["index", "build"]):
            proc = fake_cli(args, env)
            assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
            line = one_error_line(proc.stderr)
            assert f"cannot write to its data dir {data}" in line and "not damaged" in line, line
            assert not any(advice in line for advice in NEVER_DELETE), line
    proc = fake_cli(["ask", "--json", QUESTION], env)  # writable again: nothing was lost
    assert proc.returncode == 0 and "12,000" in json.loads(proc.stdout)["answer"], proc.stderr


def test_feedback_reads_the_votes_from_a_read_only_data_dir(run_cli, tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = FeedbackStore.in_data_dir(data)
    answer_id = store.record_answer(
        Answer("Who mines tungsten?", "Cove Kaz Capital. [1]", False, [], "extractive", {}), [1], 1, 2
    )
    store.vote(answer_id, 42, "down")
    with read_only(data):
        result = run_cli({"NEWSBOT_DATA_DIR": data}, "feedback", "--json")
    assert result.exit_code == 0, result.output
    tally = json.loads(result.output)
    assert tally["answers"] == 1 and tally["down"] == 1
    assert tally["voted_down"] == [{"question": "Who mines tungsten?", "down": 1, "up": 0}]


def test_feedback_with_no_database_yet_or_a_damaged_one(run_cli, tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = run_cli({"NEWSBOT_DATA_DIR": data}, "feedback", "--json")
    assert result.exit_code == 0 and json.loads(result.output)["answers"] == 0
    assert not (data / "feedback.sqlite3").exists(), "reading the votes created the database"
    data.mkdir()
    (data / "feedback.sqlite3").write_bytes(b"this is not a database\x00" * 200)
    result = run_cli({"NEWSBOT_DATA_DIR": data}, "feedback")
    assert result.exit_code == 1
    line = one_error_line(result.output)
    assert "feedback database" in line and "is damaged" in line and "unexpected" not in line, line


# -- finding 7: a store missing its vector segment ----------------------------------------------------
@pytest.mark.heavy
def test_a_store_whose_vectors_are_gone_is_named_and_rebuilt_by_index_build(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus", GENERATED)  # past 1,000 vectors Chroma keeps them only in its HNSW folder
    data = tmp_path / "data"
    store = fresh_build(corpus, data)
    segments = [p for p in (data / "chroma").iterdir() if p.is_dir()]
    assert len(segments) == 1 and (segments[0] / "header.bin").exists()
    shutil.rmtree(segments[0])
    env = cli_env(corpus, data)

    asked = fake_cli(["ask", QUESTION], env)
    assert asked.returncode == 1
    line = one_error_line(asked.stderr)
    assert "lost its vectors" in line and "newsbot index build" in line and "aside" not in line, line

    built = fake_cli(["index", "build"], env)
    assert built.returncode == 0, built.stderr
    assert "lost its vectors" in built.stderr
    assert report_of(built.stdout)[4] == store.count(), "every chunk embedded again, not 'unchanged'"
    store.catch_up()
    assert_same_store(store, fresh_build(corpus, tmp_path / "fresh"))
    assert report_of(fake_cli(["index", "build"], env).stdout) == (0, 0, 0, 184, 0)
    assert fake_cli(["ask", QUESTION], env).returncode == 0


# -- finding 12: keyword snapshot folders ----------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_half_written_snapshot_folders_of_killed_processes_are_swept_by_the_next_build(tmp_path: Path, corpus_dir: Path) -> None:
    store = fresh_build(corpus_dir, tmp_path / "data")
    root = snapshot_root(store)
    dead = root / f".tmp-{_dead_pid()}-abcd1234"  # a build killed while saving: its process is gone
    live = root / f".tmp-{os.getpid()}-efgh5678"  # a process saving right now
    legacy_old, legacy_new = root / ".tmp-k2j4h5g6", root / ".tmp-q9w8e7r6"  # older newsbot: no pid in the name
    for folder in (dead, live, legacy_old, legacy_new):
        folder.mkdir()
        (folder / "chunks.json").write_text("{}")
    two_hours_ago = time.time() - 7200
    os.utime(legacy_old, (two_hours_ago, two_hours_ago))

    report = Indexer(store, HashEmbedder(), corpus_dir).sync()  # a build with nothing to change still sweeps
    assert report.chunks_embedded == 0
    assert not dead.exists() and not legacy_old.exists()
    assert live.exists() and legacy_new.exists()
    assert KeywordIndex.load(root, store.version()) is not None, "the real snapshot is kept"
    assert set(sweep_temp_folders(root, now=time.time() + 7200)) == {live, legacy_new}  # two hours on, even these are stale


def test_the_snapshot_is_keyed_by_the_resolved_data_dir(
    tmp_path: Path, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "work").mkdir()
    fresh_build(corpus_dir, tmp_path / "data")
    monkeypatch.chdir(tmp_path / "work")
    spellings = [tmp_path / "data", Path("../data"), Path("../work/../data"), Path(f"{tmp_path}/./data")]
    stores = [ChunkStore(p) for p in spellings]
    assert len({snapshot_root(s) for s in stores}) == 1
    rebuilt = []
    monkeypatch.setattr(keyword.KeywordIndex, "build", lambda *a, **k: rebuilt.append(1))
    for s in stores:
        assert keyword.open_keyword_index(s).chunks, "the saved snapshot is loaded whatever the spelling"
    assert not rebuilt
