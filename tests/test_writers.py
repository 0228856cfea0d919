"""One writer at a time, and what readers see meanwhile (issue 13, finding 2).

The multi-process tests run the real `newsbot` command line in separate processes (``tests.fake_cli``:
the real CLI with the hashing embedder) against a real embedded Chroma, and compare the store with one
built alone. On main's code two builds at once left a store that passed those comparisons but broke on
its next write ("Error in compaction: Failed to apply logs to the hnsw segment writer"), so every
multi-process test also rebuilds the index afterwards.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path

import chromadb.errors
import pytest

from bench.generate import generate
from index.search import Retriever
from index.store import ChunkStore, StoreBusyError, VectorsMissingError, diagnose
from index.writelock import WriteLock, writer_pid
from tests.fakes import HashEmbedder
from tests.scale_helpers import (
    ROOT,
    assert_same_store,
    cli_env,
    fake_cli,
    fresh_build,
    hold_lock,
    make_corpus,
    report_of,
    start_fake_cli,
)

QUESTION = "How much tungsten will the Severnyi Katpar joint venture produce per year?"
# 184 articles, ~1,165 chunks, as in the issue: past 1,000 vectors Chroma writes its HNSW files and drops
# its log, and only then did two writers lose each other's vectors.
GENERATED = 182


# -- the lock itself ------------------------------------------------------------------------------
def test_a_second_writer_says_it_waits_then_stops_with_a_clear_message(tmp_path: Path) -> None:
    data = tmp_path / "data"
    holder = hold_lock(data)
    try:
        notes: list[str] = []
        lock = WriteLock(data, wait=0.5, notify=notes.append)
        assert writer_pid(data) == holder.pid
        start = time.monotonic()
        with pytest.raises(StoreBusyError) as info, lock.hold():
            pytest.fail("the lock was taken while another process held it")
        took = time.monotonic() - start
        assert notes == [f"another newsbot process is writing the index (pid {holder.pid}); waiting up to 0.5s..."]
        message = str(info.value)
        assert f"(pid {holder.pid})" in message and "has not finished after 0.5s" in message and "NEWSBOT_WRITE_WAIT" in message
        assert "\n" not in message
        assert 0.5 <= took < 5
    finally:
        holder.kill()
        holder.wait()
    assert writer_pid(data) is None  # the kernel dropped the killed holder's lock: nothing stale is left
    with lock.hold():
        assert writer_pid(data) == os.getpid()


def test_index_build_beside_a_writer_that_does_not_finish_exits_1_with_one_notice_and_one_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**cli_env(ROOT / "corpus", data), "NEWSBOT_WRITE_WAIT": "1"}
    holder = hold_lock(data)
    try:
        proc = fake_cli(["index", "build"], env)
    finally:
        holder.kill()
        holder.wait()
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, proc.stderr
    assert lines[0] == f"another newsbot process is writing the index (pid {holder.pid}); waiting up to 1s..."
    assert len(lines) == 2 and lines[1].startswith("error: another newsbot process") and "Traceback" not in proc.stderr
    assert ChunkStore(data).count() == 0, "the second writer wrote nothing"


def test_a_reader_that_meets_a_write_in_progress_is_told_so_not_that_the_store_is_damaged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    half_written = chromadb.errors.InternalError("Error executing plan: Internal error: Error finding id")
    holder = hold_lock(data)
    try:
        busy = diagnose(data, half_written)
    finally:
        holder.kill()
        holder.wait()
    assert type(busy) is StoreBusyError
    assert f"another newsbot process is writing the index (pid {holder.pid})" in str(busy) and "try again" in str(busy)
    assert "aside" not in str(busy)
    assert type(diagnose(data, half_written)) is VectorsMissingError  # no writer: the vectors are really gone


def test_threads_of_one_process_take_turns_and_a_thread_may_nest(tmp_path: Path) -> None:
    lock = WriteLock(tmp_path, wait=0.3, notify=lambda msg: None)
    held, release = threading.Event(), threading.Event()

    def first() -> None:
        with lock.hold(), lock.hold():  # reentrant within a thread
            held.set()
            release.wait(10)

    worker = threading.Thread(target=first)
    worker.start()
    held.wait(10)
    with pytest.raises(StoreBusyError, match="another task of this process is writing the index"), lock.hold():
        pass
    release.set()
    worker.join()
    with lock.hold():
        pass


# -- writers in separate processes ----------------------------------------------------------------
@pytest.mark.heavy
def test_two_index_builds_at_once_leave_the_store_of_one_build(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus", GENERATED)
    data = tmp_path / "data"
    env = cli_env(corpus, data)
    builds = [start_fake_cli(["index", "build"], env) for _ in range(2)]
    results = [(*b.communicate(timeout=600), b.returncode) for b in builds]
    for _, errs, rc in results:
        assert rc == 0, errs[-2000:]
    embedded = sorted(report_of(out)[4] for out, _, _ in results)
    fresh = fresh_build(corpus, tmp_path / "fresh")
    assert embedded == [0, fresh.count()], "one build embedded everything; the other waited and found nothing to do"
    assert sum("waiting up to 120s" in errs for _, errs, _ in results) == 1

    store = ChunkStore(data)
    assert_same_store(store, fresh)
    again = fake_cli(["index", "build"], env)
    assert again.returncode == 0 and report_of(again.stdout) == (0, 0, 0, 184, 0), again.stdout + again.stderr
    # Every chunk deleted and written again: on main's code this write failed after two builds at once.
    rebuilt = fake_cli(["index", "build", "--rebuild"], env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert store.catch_up(), "the other process's rebuild is seen by this one"
    assert_same_store(store, fresh)


@pytest.mark.heavy
def test_a_first_run_ask_beside_an_index_build_builds_the_index_once(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus", GENERATED)
    data = tmp_path / "data"
    env = cli_env(corpus, data)
    build = start_fake_cli(["index", "build"], env)
    ask = start_fake_cli(["ask", "--json", QUESTION], env)
    build_out, build_err = build.communicate(timeout=600)
    ask_out, ask_err = ask.communicate(timeout=600)
    assert build.returncode == 0, build_err
    fresh = fresh_build(corpus, tmp_path / "fresh")

    built_by_ask = re.search(r"Indexed \d+ articles \((\d+) chunks\)", ask_err)
    embedded = report_of(build_out)[4] + (int(built_by_ask.group(1)) if built_by_ask else 0)
    assert embedded == fresh.count(), f"the corpus was embedded once, not twice: {build_out} / {ask_err}"
    waited = "waiting up to 120s" in build_err + ask_err
    answered_meanwhile = "Another newsbot process is writing the index" in ask_err
    assert waited or answered_meanwhile, (build_err, ask_err)
    if ask.returncode == 0:
        assert json.loads(ask_out)["question"] == QUESTION
    else:  # it met the build's half-written store: one clear line, never "damaged"
        lines = [line for line in ask_err.splitlines() if line.startswith("error:")]
        assert ask.returncode == 1 and lines and "another newsbot process is writing the index" in lines[-1], ask_err
    assert "Traceback" not in ask_err + build_err

    store = ChunkStore(data)
    assert_same_store(store, fresh)
    assert report_of(fake_cli(["index", "build"], env).stdout) == (0, 0, 0, 184, 0)
    assert fake_cli(["index", "build", "--rebuild"], env).returncode == 0
    store.catch_up()
    assert_same_store(store, fresh)


@pytest.mark.heavy
def test_readers_during_a_build_answer_or_say_the_index_is_being_written(tmp_path: Path) -> None:
    """What a reader sees while another process writes the embedded store, measured rather than assumed.

    Fresh `search` processes run back to back during a slow build, and a long-lived reader (like the bot)
    is loaded before it. A reader may meet the half-written store (Chroma lists a chunk whose vector its
    copy lacks): it then says so in one line. The long-lived reader follows the build once it is done.
    """
    corpus = make_corpus(tmp_path / "corpus", 60)
    data = tmp_path / "data"
    env = {**cli_env(corpus, data), "NEWSBOT_TEST_EMBED_DELAY": "1.0"}
    store = fresh_build(corpus, data)
    reader = Retriever(store, HashEmbedder())
    generate(corpus / "more", 150, seed=11)
    new_article = sorted((corpus / "more").glob("*.md"))[0]
    new_title = new_article.read_text().split("title:", 1)[1].splitlines()[0].strip().strip('"')

    build = start_fake_cli(["index", "build"], env)
    outcomes = []
    while build.poll() is None:
        proc = fake_cli(["search", "--json", "-k", "3", QUESTION], env)
        outcomes.append(proc)
    _, build_err = build.communicate()
    assert build.returncode == 0, build_err
    assert outcomes, "no reader ran during the build"
    for proc in outcomes:
        if proc.returncode != 0:
            lines = [line for line in proc.stderr.splitlines() if line.strip()]
            assert proc.returncode == 1 and len(lines) == 1, proc.stderr
            assert "another newsbot process is writing the index" in lines[0] and "aside" not in lines[0], lines[0]
        else:
            assert json.loads(proc.stdout), proc.stdout
    print(f"readers during the build: {len(outcomes)} runs, {sum(p.returncode != 0 for p in outcomes)} told to wait")

    reader.invalidate()
    hits = reader.search(new_title, k=5)  # loaded before the build: it reloads the store and finds the new articles
    found = [h for h in hits if h.doc_id == new_article.stem]
    assert found and found[0].dense > 0, [(h.doc_id, h.dense) for h in hits]
    assert_same_store(store, fresh_build(corpus, tmp_path / "fresh"))
    assert fake_cli(["index", "build", "--rebuild"], env | {"NEWSBOT_TEST_EMBED_DELAY": "0"}).returncode == 0
