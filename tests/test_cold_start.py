"""What a cold `newsbot ask` imports: never torch, transformers or sentence-transformers (the model is served
by ONNX Runtime), nor bm25s/scipy (the saved keyword index is read with numpy), nor langchain (extractive answers).

The heavy tests run the real commands in new processes under `python -X importtime`, on an index built by
`newsbot index build` with the session's ONNX export.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import bm25s
import numpy as np
import pytest

from index.keyword import SavedBM25, load_bm25

ROOT = Path(__file__).resolve().parent.parent


def test_the_saved_keyword_index_scores_exactly_as_bm25s(tmp_path: Path):
    corpus = [
        ["tungsten", "deal", "kazakhstan", "tungsten"],
        ["antimoni", "export", "tajikistan"],
        ["deal", "sign", "washington", "summit", "c5"],
        ["tungsten", "mine", "produc", "12000", "tonn"],
    ]
    index = bm25s.BM25()
    index.index(corpus, show_progress=False)
    index.save(str(tmp_path / "bm25"), show_progress=False)
    saved = load_bm25(tmp_path / "bm25")
    assert isinstance(saved, SavedBM25)
    assert saved.vocab_dict == index.vocab_dict
    assert np.array_equal(saved.scores["indptr"], index.scores["indptr"])
    for query in (["tungsten"], ["deal", "tungsten", "unknown"], ["c5", "summit", "sign", "deal"], ["unknown"]):
        expected = index.get_scores(query) if any(q in index.vocab_dict for q in query) else np.zeros(len(corpus))
        assert np.array_equal(saved.get_scores(query), expected), query


def test_variants_with_a_non_occurrence_array_are_left_to_bm25s(tmp_path: Path):
    index = bm25s.BM25(method="bm25+")
    index.index([["a", "b"], ["b", "c"]], show_progress=False)
    index.save(str(tmp_path / "bm25"), show_progress=False)
    loaded = load_bm25(tmp_path / "bm25")
    assert isinstance(loaded, bm25s.BM25)
    assert np.allclose(loaded.get_scores(["b"]), index.get_scores(["b"]))


QUERY_COMMANDS = {
    "ask": (["ask", "--json", "How much tungsten will the Severnyi Katpar joint venture produce per year?"], None),
    "search": (["search", "--json", "-k", "4", "Severnyi Katpar tungsten"], None),
    "chat": (["chat"], "Who will develop the tungsten deposit?\nAnd how much will it produce?\n"),
    "eval": (["eval", str(ROOT / "eval" / "newsbot.jsonl")], None),
}
# What a question does not need: the model's training stack, the build's bfloat16 runtime, the keyword index
# builder, the LLM clients.
NEVER_ON_THE_QUERY_PATH = (
    "torch",
    "openvino",
    "transformers",
    "sentence_transformers",
    "sklearn",
    "bm25s",
    "scipy",
    "langchain_core",
    "langchain_text_splitters",
    "langchain_openai",
)


@pytest.fixture(scope="module")
def built_index(tmp_path_factory: pytest.TempPathFactory, onnx_cache: Path) -> dict[str, str]:
    """A data dir with the session's export copied in and the real corpus indexed by `newsbot index build`."""
    base = tmp_path_factory.mktemp("cold")
    shutil.copytree(ROOT / "corpus", base / "corpus")
    shutil.copytree(onnx_cache, base / "data" / "onnx")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env.update(NEWSBOT_CORPUS_DIR=str(base / "corpus"), NEWSBOT_DATA_DIR=str(base / "data"), HF_HUB_OFFLINE="1")
    build = _newsbot(["index", "build", "--json"], env, None)
    assert build.returncode == 0, build.stderr
    assert json.loads(build.stdout)["added"] == 2
    assert "Exporting" not in build.stderr  # it found the copied export
    return env


def _newsbot(args: list[str], env: dict[str, str], stdin: str | None, *python_flags: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("newsbot")
    return subprocess.run(
        [sys.executable, *python_flags, str(exe), *args], env=env, input=stdin, capture_output=True, text=True, timeout=300
    )


def imported_modules(importtime_stderr: str) -> set[str]:
    """Module names from `python -X importtime` output."""
    return {line.rsplit("|", 1)[1].strip() for line in importtime_stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.heavy
@pytest.mark.parametrize("command", list(QUERY_COMMANDS))
def test_the_query_path_never_imports_torch(built_index: dict[str, str], command: str):
    args, stdin = QUERY_COMMANDS[command]
    proc = _newsbot(args, built_index, stdin, "-X", "importtime")
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = imported_modules(proc.stderr)
    assert "onnxruntime" in modules  # it did embed, with ONNX Runtime
    loaded = sorted(m for m in modules if m.split(".")[0] in NEVER_ON_THE_QUERY_PATH)
    assert loaded == [], loaded[:10]
    if command == "ask":
        assert "12,000" in json.loads(proc.stdout)["answer"]


# The real `newsbot` entry point (cli.main) with the hashing embedder, and an exit hook that says whether the
# interpreter's teardown ran: a read-only command skips it (it cost 0.12 s of a cold ask), a writer never does.
_TEARDOWN_PROBE = """
import atexit, sys
from bot import cli
from tests import fake_cli
cli._bot = fake_cli._bot
atexit.register(lambda: print("teardown ran", file=sys.stderr))
sys.argv = ["newsbot", *sys.argv[1:]]
cli.main()
"""


def test_a_read_only_command_skips_the_teardown_and_a_writer_does_not(tmp_path: Path):
    from tests.scale_helpers import cli_env

    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    env = cli_env(corpus, tmp_path / "data")

    def newsbot(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", _TEARDOWN_PROBE, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
        )

    first = newsbot("ask", "--json", "How much tungsten will the joint venture produce?")  # builds the index first
    assert first.returncode == 0, first.stderr
    assert "No index yet" in first.stderr and "teardown ran" in first.stderr  # it wrote: a normal exit
    again = newsbot("ask", "--json", "How much tungsten will the joint venture produce?")
    assert again.returncode == 0, again.stderr
    assert "teardown ran" not in again.stderr
    assert json.loads(again.stdout)["question"] == "How much tungsten will the joint venture produce?"  # flushed whole
    hits = newsbot("search", "--json", "tungsten")
    assert hits.returncode == 0 and "teardown ran" not in hits.stderr and json.loads(hits.stdout)
    bad = newsbot("ask", "--since", "yesterday", "tungsten?")  # an error exits as before, with its message
    assert bad.returncode == 1 and "error:" in bad.stderr and "teardown ran" in bad.stderr


# Counts the costly step of `overrides`' checks (disassembling a class body) while chromadb is imported and
# opened, then shows the real decorator is back: a method marked as an override of nothing is refused.
_OVERRIDES_PROBE = """
import sys
from pathlib import Path

import overrides

checks = sys.modules["overrides.overrides"]  # (the package's name `overrides` is also its decorator)

real_decorator, real_step, calls = overrides.override, checks._get_base_class_names, []
checks._get_base_class_names = lambda frame: calls.append(1) or real_step(frame)
if sys.argv[1] == "newsbot":
    from index.store import ChunkStore

    assert ChunkStore(Path(sys.argv[2])).count() == 0  # opened and usable
else:
    import chromadb

    chromadb.PersistentClient(path=sys.argv[2])
print(len(calls), overrides.override is real_decorator)


class Base: ...


def define_a_false_override():
    class Child(Base):
        @overrides.override
        def not_in_any_base(self): ...


try:
    define_a_false_override()
except TypeError:
    print("checked")
"""


def test_newsbot_opens_chromadb_without_the_overrides_checks_and_restores_them(tmp_path: Path):
    def probe(how: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", _OVERRIDES_PROBE, how, str(tmp_path / how)], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.split()

    plain_calls, _, plain_checked = probe("plain")
    assert int(plain_calls) > 50 and plain_checked == "checked"  # what chromadb costs when imported as it comes
    calls, restored, checked = probe("newsbot")
    assert (calls, restored, checked) == ("0", "True", "checked")
