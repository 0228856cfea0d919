"""The embedding model served by ONNX Runtime: config reading, pooling, the export cache, the fallback.

Fast tests use a tiny sentence-transformers-shaped model (tests/fakes.py: a word-vector table exported
as a one-node ONNX graph by the real export code); the heavy ones export the bundled all-MiniLM-L6-v2
once per session and hold it to sentence-transformers' vectors.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from index import onnx_embed
from index.embed import EncodedText, SentenceTransformerEmbedder, encode_in_context
from index.onnx_embed import (
    MANIFEST,
    REFERENCE,
    WEIGHTS,
    OnnxEmbedder,
    OnnxModel,
    OnnxUnavailable,
    UnsupportedModel,
    export_key,
    model_fingerprint,
    pool,
    read_st_config,
)
from tests.fakes import export_tiny_model, tiny_vectors, write_tiny_model

ROOT = Path(__file__).resolve().parent.parent
TEXTS = ["the tungsten deal", "antimony and the us signed a deal in kazakhstan", "", "unknown words only"]


class CountingExporter:
    """The tiny model's exporter, counting its calls (or failing, to test the fallback)."""

    def __init__(self, error: str | None = None) -> None:
        self.calls = 0
        self.error = error

    def __call__(self, config, target: Path, name: str) -> None:
        self.calls += 1
        if self.error:
            raise OnnxUnavailable(self.error)
        export_tiny_model(config, target, name)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return write_tiny_model(tmp_path / "tiny-model")


def embedder_for(model: Path, cache: Path, exporter=None, messages: list[str] | None = None) -> OnnxEmbedder:
    out = messages if messages is not None else []
    return OnnxEmbedder(model, cache, notify=out.append, exporter=exporter or CountingExporter())


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# -- the model folder's config -------------------------------------------------------------------------------
def test_pooling_and_length_come_from_the_model_folder(tmp_path: Path):
    model = write_tiny_model(tmp_path / "m", width=4, pooling=("cls", "mean"), max_seq_length=12)
    config = read_st_config(model)
    assert config.pooling == ("cls", "mean")
    assert config.dim == 8  # two modes of 4 concatenated
    assert config.max_seq_length == 12
    assert config.prompt == ""


def test_legacy_pooling_flags_and_length_limits_are_read_as_sentence_transformers_does(tmp_path: Path):
    model = write_tiny_model(tmp_path / "m", width=4)
    legacy = {"word_embedding_dimension": 4, "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True}
    (model / "1_Pooling" / "config.json").write_text(json.dumps(legacy))
    (model / "sentence_bert_config.json").unlink()  # then: the tokenizer's and the model's limits, the lower
    (model / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 1e30}))  # "no limit"
    config = read_st_config(model)
    assert config.pooling == ("max", "mean")  # sentence-transformers' concatenation order, not the file's
    assert config.max_seq_length == 512  # config.json's max_position_embeddings
    assert config.dim == 8


def test_a_folder_without_modules_json_is_a_transformer_pooled_by_the_mean(tmp_path: Path):
    model = write_tiny_model(tmp_path / "m", width=4)
    (model / "modules.json").unlink()
    config = read_st_config(model)
    assert (config.pooling, config.dim) == (("mean",), 4)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda m: _add_module(m, "sentence_transformers.models.Dense", "2_Dense"), "Dense"),
        (lambda m: _write(m / "1_Pooling" / "config.json", {"embedding_dimension": 8, "pooling_mode": "attention"}), "attention"),
        (
            lambda m: (
                _write(m / "config_sentence_transformers.json", {"prompts": {"q": "query: "}, "default_prompt_name": "q"}),
                _write(m / "1_Pooling" / "config.json", {"embedding_dimension": 8, "include_prompt": False}),
            ),
            "prompt",
        ),
    ],
)
def test_what_the_onnx_path_cannot_reproduce_is_refused_with_the_reason(tiny: Path, change, reason: str):
    change(tiny)
    with pytest.raises(UnsupportedModel, match=reason):
        read_st_config(tiny)


def _write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data))


def _add_module(model: Path, kind: str, path: str) -> None:
    modules = json.loads((model / "modules.json").read_text())
    modules.append({"idx": len(modules), "name": str(len(modules)), "path": path, "type": kind})
    _write(model / "modules.json", modules)  # type: ignore[arg-type]


# -- pooling ---------------------------------------------------------------------------------------------------
def test_pooling_modes_computed_by_hand():
    hidden = np.array([[[1.0, 0.0], [3.0, 4.0], [9.0, 9.0]], [[9.0, 9.0], [2.0, 2.0], [4.0, -2.0]]], dtype=np.float32)
    right = np.array([[1, 1, 0], [1, 1, 1]])  # the first text is padded on the right
    left = np.array([[1, 1, 0], [0, 1, 1]])  # the second on the left
    assert np.allclose(pool(hidden, right, ["mean"]), [[2.0, 2.0], [5.0, 3.0]])
    assert np.allclose(pool(hidden, right, ["mean_sqrt_len_tokens"]), [[4 / np.sqrt(2), 4 / np.sqrt(2)], [15 / np.sqrt(3), 9 / np.sqrt(3)]])
    assert np.allclose(pool(hidden, right, ["max"]), [[3.0, 4.0], [9.0, 9.0]])
    assert np.allclose(pool(hidden, left, ["cls"]), [[1.0, 0.0], [2.0, 2.0]])  # the first real token
    assert np.allclose(pool(hidden, left, ["lasttoken"]), [[3.0, 4.0], [4.0, -2.0]])  # the last real token
    # weights 1, 2, ... from the first real token: (1*[1,0] + 2*[3,4]) / 3 and (1*[2,2] + 2*[4,-2]) / 3
    assert np.allclose(pool(hidden, left, ["weightedmean"]), [[7 / 3, 8 / 3], [10 / 3, -2 / 3]])
    assert pool(hidden, right, ["cls", "mean"]).shape == (2, 4)


# -- the export cache ---------------------------------------------------------------------------------------------
def test_the_export_is_made_once_with_a_notice_and_then_reused(tiny: Path, tmp_path: Path):
    exporter, messages = CountingExporter(), []
    first = embedder_for(tiny, tmp_path / "cache", exporter, messages)
    vectors = first.embed_documents(TEXTS, batch_size=3)  # batches of texts of unequal length: padding
    assert first.backend == "onnx"
    assert np.all(cosines(vectors, tiny_vectors(first.config, TEXTS)) > 0.9999)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert exporter.calls == 1
    assert len(messages) == 1 and messages[0].startswith("Exporting tiny-model to ONNX")

    more: list[str] = []
    again = embedder_for(tiny, tmp_path / "cache", exporter, more)
    assert np.allclose(again.embed_query(TEXTS[1]), vectors[1], atol=1e-6)
    assert exporter.calls == 1 and more == []  # another process finds it and says nothing
    assert again.count_tokens("the tungsten deal") == 3  # word pieces without [CLS]/[SEP]


def test_name_is_the_sentence_transformers_name_so_an_index_built_by_either_is_read_by_both(tiny: Path, tmp_path: Path):
    assert OnnxEmbedder(cache_dir=tmp_path).name == SentenceTransformerEmbedder().name == "all-MiniLM-L6-v2"
    assert OnnxEmbedder(tiny, tmp_path).name == SentenceTransformerEmbedder(tiny).name == "tiny-model"


def test_the_fingerprint_hashes_the_weights_once_and_changes_with_them(tiny: Path, tmp_path: Path, monkeypatch):
    hashed: list[str] = []
    real = onnx_embed.file_sha256
    monkeypatch.setattr(onnx_embed, "file_sha256", lambda p: hashed.append(p.name) or real(p))
    memo = tmp_path / "fingerprints.json"
    config = read_st_config(tiny)
    first = model_fingerprint(config, memo)
    assert "weights.npy" in hashed and "1_Pooling" not in hashed
    hashed.clear()
    assert model_fingerprint(config, memo) == first and hashed == []  # unchanged files: read from the memo

    table = np.load(tiny / "weights.npy")
    table[3, 0] += 1.0
    np.save(tiny / "weights.npy", table)
    assert model_fingerprint(config, memo) != first
    assert export_key(first) != export_key(model_fingerprint(config, memo))


def test_export_settings_are_part_of_the_key(monkeypatch):
    before = export_key("abc")
    monkeypatch.setattr(onnx_embed, "OPSET", 18)
    assert export_key("abc") != before
    monkeypatch.setattr(onnx_embed, "OPSET", 17)
    monkeypatch.setattr(onnx_embed, "FORMAT", "999")
    assert export_key("abc") != before


def test_a_changed_model_gets_a_new_export_and_the_old_one_is_removed(tiny: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    old = embedder_for(tiny, cache)
    old.embed_query("the deal")
    old_dir = old._export_dir()
    write_tiny_model(tiny, seed=1)  # new weights in the same folder
    exporter, messages = CountingExporter(), []
    new = embedder_for(tiny, cache, exporter, messages)
    vector = new.embed_query("the tungsten deal")
    assert exporter.calls == 1 and messages[0].startswith("Exporting")
    assert new._export_dir() != old_dir and not old_dir.exists()
    assert cosines(vector[None], tiny_vectors(new.config, ["the tungsten deal"]))[0] > 0.9999


def _flip_weights(folder: Path) -> None:
    data = bytearray((folder / WEIGHTS).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / WEIGHTS).write_bytes(bytes(data))


def _other_reference(folder: Path) -> None:
    """Reference vectors that the graph does not give, with a checksum that matches them (a wrong model)."""
    manifest = json.loads((folder / MANIFEST).read_text())
    np.save(folder / REFERENCE, -np.load(folder / REFERENCE))
    manifest["sha256"][REFERENCE] = onnx_embed.file_sha256(folder / REFERENCE)
    (folder / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (_flip_weights, "model.onnx.data does not match its checksum"),
        (lambda f: (f / WEIGHTS).unlink(), "model.onnx.data cannot be read"),
        (lambda f: (f / MANIFEST).write_text("{not json"), "manifest is unreadable"),
        (_other_reference, "differ from sentence-transformers'"),
    ],
)
def test_a_damaged_export_is_made_again_with_a_message(tiny: Path, tmp_path: Path, damage, said: str):
    cache = tmp_path / "cache"
    good = embedder_for(tiny, cache)
    expected = good.embed_query("the tungsten deal")
    damage(good._export_dir())
    exporter, messages = CountingExporter(), []
    again = embedder_for(tiny, cache, exporter, messages)
    assert np.allclose(again.embed_query("the tungsten deal"), expected, atol=1e-6)
    assert exporter.calls == 1
    assert len(messages) == 1 and said in messages[0] and "making it again" in messages[0]
    assert OnnxModel.open(again._export_dir(), again.config)  # the new one is whole


def test_prepare_makes_a_missing_export_and_is_cheap_when_there_is_one(tiny: Path, tmp_path: Path):
    exporter = CountingExporter()
    embedder = embedder_for(tiny, tmp_path / "cache", exporter)
    embedder.prepare()
    assert exporter.calls == 1 and (embedder._export_dir() / MANIFEST).exists()
    later = embedder_for(tiny, tmp_path / "cache", exporter)
    later.prepare()
    assert exporter.calls == 1 and later._backend is None  # found, not even opened


def test_an_export_that_fails_falls_back_to_sentence_transformers_with_one_warning(tiny: Path, tmp_path: Path):
    messages: list[str] = []
    embedder = embedder_for(tiny, tmp_path / "cache", CountingExporter(error="torch.onnx.export exploded"), messages)
    assert isinstance(embedder.backend_embedder, SentenceTransformerEmbedder)  # not loaded: that needs torch
    assert embedder.backend == "sentence-transformers"
    warnings = [m for m in messages if m.startswith("warning:")]
    assert len(warnings) == 1 and "torch.onnx.export exploded" in warnings[0] and "sentence-transformers" in warnings[0]
    assert "\n" not in warnings[0]


def test_without_the_onnx_package_the_real_exporter_falls_back(tiny: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` raises ImportError
    messages: list[str] = []
    embedder = OnnxEmbedder(tiny, tmp_path / "cache", notify=messages.append)  # the real exporter
    assert isinstance(embedder.backend_embedder, SentenceTransformerEmbedder)
    assert "onnx package is not installed" in messages[-1]
    assert not any(p.name.startswith(".tmp-") for p in (tmp_path / "cache").glob("*"))


def test_an_unsupported_model_falls_back_without_trying_to_export(tiny: Path, tmp_path: Path):
    _add_module(tiny, "sentence_transformers.models.Dense", "2_Dense")
    exporter, messages = CountingExporter(), []
    embedder = embedder_for(tiny, tmp_path / "cache", exporter, messages)
    assert embedder.backend == "sentence-transformers" and exporter.calls == 0
    assert len(messages) == 1 and "Dense" in messages[0]


CONCURRENT_EXPORT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from index.onnx_embed import OnnxEmbedder
    from tests.fakes import export_tiny_model
    embedder = OnnxEmbedder(Path(sys.argv[1]), Path(sys.argv[2]), notify=lambda m: None, exporter=export_tiny_model)
    print(embedder.backend, float(embedder.embed_query("the tungsten deal")[0]))
    """
)


def test_two_processes_exporting_at_once_leave_one_whole_export(tiny: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_EXPORT, str(tiny), str(cache)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert {o[0] for o in outputs} == {"onnx"} and len({o[1] for o in outputs}) == 1
    exports = [p for p in cache.iterdir() if p.is_dir()]
    assert len(exports) == 1, exports  # no temporary folder left, no second copy
    assert OnnxModel.open(exports[0], read_st_config(tiny))


# -- the real model (heavy) ------------------------------------------------------------------------------------------
@pytest.mark.heavy
def test_onnx_vectors_and_chunks_equal_sentence_transformers_on_real_articles(onnx_embedder, real_embedder, corpus_dir):
    from bench.generate import generate
    from index.load import corpus_files, load_article
    from index.sync import chunks_for

    generate(corpus_dir / "generated", 20, seed=3)
    articles = [load_article(p) for p in corpus_files(corpus_dir)]
    ours = [c for a in articles for c in chunks_for(a, onnx_embedder, 128)]
    theirs = [c for a in articles for c in chunks_for(a, real_embedder, 128)]
    assert [c.id for c in ours] == [c.id for c in theirs]  # same word-piece counts, so the same chunks
    texts = [c.embed_text for c in ours]
    a = onnx_embedder.embed_documents(texts, batch_size=32)
    b = real_embedder.embed_documents(texts, batch_size=32)
    assert len(texts) > 100
    assert cosines(a, b).min() >= 0.9999
    long_text = " ".join(texts)  # far past 256 word pieces: both truncate at the same place
    assert cosines(onnx_embedder.embed_query(long_text)[None], real_embedder.embed_query(long_text)[None])[0] >= 0.9999
    assert onnx_embedder.dim == real_embedder.dim and onnx_embedder.max_tokens == real_embedder.max_tokens


@pytest.mark.heavy
def test_pool_equals_sentence_transformers_pooling_in_every_mode():
    import torch
    from sentence_transformers.sentence_transformer.modules.pooling import Pooling

    rng = np.random.default_rng(0)
    hidden = rng.standard_normal((4, 7, 6)).astype(np.float32)
    right = np.array([[1] * 7, [1] * 5 + [0] * 2, [1] * 2 + [0] * 5, [1] + [0] * 6])
    left = right[:, ::-1].copy()
    for mask in (right, left):
        for modes in (*((m,) for m in onnx_embed.POOLING_MODES), ("cls", "mean", "max")):
            module = Pooling(6, pooling_mode=modes if len(modes) > 1 else modes[0])
            features = {"token_embeddings": torch.from_numpy(hidden), "attention_mask": torch.from_numpy(mask)}
            expected = module(features)["sentence_embedding"].numpy()
            assert np.allclose(pool(hidden, mask, modes), expected, atol=1e-5), modes


@pytest.mark.heavy
def test_a_failed_export_of_the_real_model_falls_back_to_the_same_vectors(tmp_path: Path, real_embedder):
    messages: list[str] = []
    embedder = OnnxEmbedder(cache_dir=tmp_path, notify=messages.append, exporter=CountingExporter(error="no exporter here"))
    question = "How much tungsten will the Severnyi Katpar joint venture produce per year?"
    assert np.allclose(embedder.embed_query(question), real_embedder.embed_query(question), atol=1e-6)
    assert embedder.backend == "sentence-transformers"
    assert messages[-1].startswith("warning:") and "no exporter here" in messages[-1]


def test_the_settings_pick_the_embedder_and_where_the_export_lives(tmp_path: Path, monkeypatch):
    from bot.service import Newsbot
    from bot.settings import Settings

    monkeypatch.delenv("NEWSBOT_ONNX_DIR", raising=False)
    settings = Settings(corpus_dir=tmp_path / "none", data_dir=tmp_path / "data", _env_file=None)
    bot = Newsbot(settings, notify=lambda m: None)
    assert isinstance(bot.embedder, OnnxEmbedder) and bot.embedder.cache_dir == tmp_path / "data" / "onnx"
    shared = Settings(corpus_dir=tmp_path / "none", data_dir=tmp_path / "data", onnx_dir=tmp_path / "shared", _env_file=None)
    assert Newsbot(shared, store=bot.store, notify=lambda m: None).embedder.cache_dir == tmp_path / "shared"
    plain = settings.model_copy(update={"embed_backend": "sentence-transformers"})
    assert isinstance(Newsbot(plain, store=bot.store, notify=lambda m: None).embedder, SentenceTransformerEmbedder)


# -- a query's word pieces in context (the answer step's context_match) -----------------------------------------------
def test_words_in_context_average_a_words_pieces_found_after_start():
    pieces = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    encoded = EncodedText("Bank loans. Bankers bank", np.zeros(2), pieces, ((0, 4), (5, 10), (12, 19), (20, 24)))
    found = encoded.words_in_context(["bank", "loans", "missing"])
    assert set(found) == {"bank", "loans"}
    assert np.allclose(found["bank"], [1.0, 0.0])  # the first "bank", not "Bankers" (a whole word only)
    assert np.allclose(encoded.words_in_context(["bank"], start=12)["bank"], [0.6, 0.8])  # after ``start`` only
    two = EncodedText("Tokayev", np.zeros(2), pieces[:2], ((0, 3), (3, 7)))  # one word, two pieces: their mean, unit length
    assert np.allclose(two.words_in_context(["tokayev"])["tokayev"], np.array([1.0, 1.0]) / np.sqrt(2))
    assert EncodedText("no pieces", np.zeros(2)).words_in_context(["pieces"]) == {}
    # Offsets are the text's own: a letter whose lower case is longer ("İ") does not shift the words after it.
    turkish = EncodedText("İstanbul Bank", np.zeros(2), pieces[:2], ((0, 8), (9, 13)))
    assert np.allclose(turkish.words_in_context(["bank"])["bank"], [0.0, 1.0])


@pytest.mark.heavy
def test_the_query_in_context_is_the_query_vector_with_its_pieces(onnx_embedder, real_embedder):
    question = "Which bank will lend the money for the mine?"
    encoded = onnx_embedder.embed_in_context(question)
    assert np.allclose(encoded.vector, onnx_embedder.embed_query(question), atol=1e-6)  # one run gives both
    assert len(encoded.pieces) == len(encoded.offsets) and [question[a:b] for a, b in encoded.offsets][:2] == ["Which", "bank"]
    # The same word in another context is another vector: "bank" of a river is not the lender.
    river = onnx_embedder.embed_in_context("Which bank of the river did they camp on?").words_in_context(["bank"])["bank"]
    assert float(encoded.words_in_context(["bank"])["bank"] @ river) < 0.95
    # sentence-transformers (the fallback when ONNX cannot serve the model) gives the same pieces.
    fallback = encode_in_context(real_embedder, question)
    assert fallback.offsets == encoded.offsets
    assert float(np.min(np.sum(fallback.pieces * encoded.pieces, axis=1))) >= 0.9999
