"""Small deterministic stand-ins for the heavy parts (the embedding model), registered like the real ones."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from index.text import terms, words


class HashEmbedder:
    """Bag-of-stemmed-terms hashed into a fixed number of buckets: texts sharing words are close.

    Deterministic and instant, so index and answer tests need no model. Word
    pieces are approximated as 1.3 per word, which overestimates like the real
    tokenizer does on names and numbers.
    """

    name = "hash-embedder"
    dim = 4096  # wide enough that two different words almost never share a bucket
    max_tokens = 256

    def __init__(self) -> None:
        self.calls: list[int] = []  # batch sizes, so tests can count what was embedded

    def count_tokens(self, text: str) -> int:
        return int(len(words(text)) * 1.3) + 1

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for t in terms(text) or words(text) or [text]:
            h = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=4).digest(), "little")
            v[h % self.dim] += 1.0
        n = float(np.linalg.norm(v))
        return v / n if n else v

    def embed_documents(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        self.calls.append(len(texts))
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)

    @property
    def embedded(self) -> int:
        return sum(self.calls)


class CountingEmbedder(HashEmbedder):
    """The hashing embedder, recording every text it is asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed_documents(self, texts, batch_size: int = 64):
        self.texts.extend(texts)
        return super().embed_documents(texts, batch_size)


# -- a tiny sentence-transformers-shaped model for the ONNX path (no torch) --------------------------------
TINY_VOCAB = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "the", "a", "of", "and", "to", "in", "tungsten", "antimony", "deal", "signed", "us"]


def write_tiny_model(folder: Path, seed: int = 0, width: int = 8, pooling: Sequence[str] = ("mean",), max_seq_length: int = 16) -> Path:
    """A model folder laid out like sentence-transformers' (modules.json, 1_Pooling/, sentence_bert_config.json,
    tokenizer.json) whose "transformer" is a word-vector table in ``weights.npy``: what the ONNX path reads,
    at no cost. :func:`export_tiny_model` exports it the way ``index.onnx_export.export_model`` exports a real one.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "1_Pooling").mkdir(exist_ok=True)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"embedding_dimension": width, "pooling_mode": list(pooling)}))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_seq_length}))
    (folder / "config.json").write_text(json.dumps({"hidden_size": width, "max_position_embeddings": 512}))
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(TINY_VOCAB)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
    )
    tokenizer.save(str(folder / "tokenizer.json"))
    table = np.random.default_rng(seed).standard_normal((len(TINY_VOCAB), width)).astype(np.float32)
    np.save(folder / "weights.npy", table)
    return folder


def tiny_vectors(config, texts: Sequence[str]) -> np.ndarray:
    """The tiny model's sentence vectors computed directly, one text at a time (no padding, no onnxruntime)."""
    from tokenizers import Tokenizer

    from index.onnx_embed import normalize

    table = np.load(config.root / "weights.npy")
    tokenizer = Tokenizer.from_file(str(config.root / "tokenizer.json"))
    tokenizer.enable_truncation(config.max_seq_length)
    return normalize(np.stack([table[tokenizer.encode(t).ids].mean(axis=0) for t in texts]))


def export_tiny_model(config, target: Path, name: str) -> None:
    """The tiny model as an ONNX graph (a Gather from its table), installed by the real export code."""
    from onnx import TensorProto, helper, numpy_helper

    from index.onnx_embed import CHECK_SENTENCES, GRAPH, TOKENIZER, WEIGHTS
    from index.onnx_export import MODEL_INPUTS, install_export, staging

    table = np.load(config.root / "weights.npy")
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "tokens"]) for n in MODEL_INPUTS]
    output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", table.shape[1]])
    node = helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"], axis=0)
    graph = helper.make_graph([node], "tiny", inputs, [output], [numpy_helper.from_array(table, name="table")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with staging(target) as tmp:
        import onnx

        onnx.save_model(model, str(tmp / GRAPH), save_as_external_data=True, location=WEIGHTS, size_threshold=0)
        (tmp / TOKENIZER).write_bytes((config.root / "tokenizer.json").read_bytes())
        padding = {"pad_id": 0, "pad_token": "[PAD]", "pad_type_id": 0, "padding_side": "right", "truncation_side": "right"}
        install_export(tmp, target, config, name, list(MODEL_INPUTS), padding, tiny_vectors(config, CHECK_SENTENCES))
