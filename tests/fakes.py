"""Small deterministic stand-ins for the heavy parts (the embedding model), registered like the real ones."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

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
