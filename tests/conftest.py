"""Shared fixtures: a temporary corpus and data dir, a fake-embedder bot, and (heavy) the real one."""

from __future__ import annotations

import gc
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.service import Newsbot
from bot.settings import Settings
from tests.chroma_server import chroma_url  # noqa: F401 - the Chroma server fixture (CI's or one of its own)
from tests.discord_world import bot_settings, indexed_corpus, simcord_bot, world  # noqa: F401 - the Discord scenario fixtures
from tests.fakes import HashEmbedder

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SHARED = ROOT.parent / "shared"
GOLDEN = SHARED / "eval" / "golden.jsonl"


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """A copy of the real corpus that a test may change."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture
def settings(tmp_path: Path, corpus_dir: Path) -> Settings:
    return Settings(corpus_dir=corpus_dir, data_dir=tmp_path / "data", chroma_url=None, _env_file=None)


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def fake_bot(settings: Settings, embedder: HashEmbedder) -> Newsbot:
    """The real answering pipeline and a real embedded Chroma, with the hashing embedder."""
    return Newsbot(settings, embedder=embedder, notify=lambda msg: None)


@pytest.fixture(scope="session")
def real_embedder():
    from index.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def real_bot(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Newsbot:
    """The bundled all-MiniLM-L6-v2 and a real embedded Chroma over the real corpus (loaded once)."""
    return real_corpus_bot(tmp_path_factory.mktemp("real"), real_embedder)


def real_corpus_bot(base: Path, embedder, edit: Callable[[Path], None] | None = None) -> Newsbot:
    """A bot over a copy of the real corpus in ``base`` (changed by ``edit`` first), with an embedded Chroma."""
    corpus = base / "corpus"
    shutil.copytree(CORPUS, corpus)
    if edit is not None:
        edit(corpus)
    settings = Settings(corpus_dir=corpus, data_dir=base / "data", chroma_url=None, _env_file=None)
    return Newsbot(settings, embedder=embedder, notify=lambda msg: None)


@pytest.fixture(autouse=True)
def _unfreeze_after_each_test():
    """A Discord bot freezes what it has loaded (``gc.freeze`` in its setup_hook, so collections skip it); in a test
    process that would keep every earlier test's garbage cycles for good. Each test ends with it released."""
    yield
    gc.unfreeze()


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """One ONNX export of the bundled model for the whole session, in NEWSBOT_ONNX_DIR, so that every
    `newsbot` process and every Newsbot a test starts finds it rather than exporting again.

    Made up front when heavy tests run: a process that made it would print the export notice, and some
    tests count the lines a process prints. A session of fast tests alone never needs it.
    """
    from index.onnx_embed import OnnxEmbedder

    cache = tmp_path_factory.mktemp("onnx-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("NEWSBOT_ONNX_DIR", str(cache))
    # Builds in tests embed with the query path's model: whether bfloat16 pays is timed per machine (a notice and a
    # few seconds that tests counting a process's lines or its time should not depend on); test_build_embed.py
    # tests that choice itself.
    patch.setenv("NEWSBOT_BUILD_PRECISION", "float32")
    if any(item.get_closest_marker("heavy") for item in request.session.items):
        embedder = OnnxEmbedder(cache_dir=cache, notify=lambda m: None)
        embedder.prepare()
        assert embedder.backend == "onnx"
    yield cache
    patch.undo()


@pytest.fixture(scope="session")
def onnx_embedder(onnx_cache: Path):
    """The bundled model served by ONNX Runtime from the session's export."""
    from index.onnx_embed import OnnxEmbedder

    return OnnxEmbedder(cache_dir=onnx_cache, notify=lambda m: None)
