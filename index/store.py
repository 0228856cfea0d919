"""The Chroma collection that holds the chunks: embedded (PersistentClient) or a server (HttpClient).

Both clients expose one API, so the rest of newsbot never asks which it has.
Chroma's own default embedding function would download a model, so the
collection is always opened with ``embedding_function=None`` and we pass vectors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

log = logging.getLogger(__name__)

COLLECTION = "newsbot_chunks"
_GET_PAGE = 5000  # rows per get(): keeps one request/response a sane size on big corpora


class StoreError(RuntimeError):
    """The vector store cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class StoredChunk:
    id: str
    text: str
    meta: dict[str, Any]


def _client(data_dir: Path, chroma_url: str | None):
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if chroma_url:
        url = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
        if url.scheme not in ("http", "https") or not url.hostname:
            raise StoreError(f"NEWSBOT_CHROMA_URL must look like http://host:8000, not {chroma_url!r}")
        port = url.port or (443 if url.scheme == "https" else 8000)
        try:
            return chromadb.HttpClient(host=url.hostname, port=port, ssl=url.scheme == "https", settings=settings)
        except Exception as exc:  # chromadb raises ValueError/ConnectionError variants
            raise StoreError(f"cannot reach the Chroma server at {chroma_url}: {exc}. Is `chroma run` up?") from exc
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return chromadb.PersistentClient(path=str(data_dir / "chroma"), settings=settings)
    except Exception as exc:
        raise StoreError(
            f"the Chroma data in {data_dir / 'chroma'} cannot be opened ({exc}). "
            f"Move that folder aside and run `newsbot index build` to rebuild it."
        ) from exc


class ChunkStore:
    """Thin wrapper over one Chroma collection of chunks with their metadata."""

    def __init__(self, data_dir: Path, chroma_url: str | None = None, collection: str = COLLECTION) -> None:
        self.location = chroma_url or str(data_dir / "chroma")
        self._client = _client(data_dir, chroma_url)
        try:
            self._col = self._client.get_or_create_collection(
                collection, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
        except Exception as exc:
            raise StoreError(f"cannot open the Chroma collection at {self.location}: {exc}") from exc

    # -- reading ---------------------------------------------------------------
    def count(self) -> int:
        return self._col.count()

    def version(self) -> str:
        """Changes whenever a sync writes; readers use it to know their in-memory view is stale."""
        meta = self._col.metadata or {}
        return f"{meta.get('version', '0')}:{self._col.count()}"

    def model_name(self) -> str | None:
        return (self._col.metadata or {}).get("embed_model")

    def all_metadata(self) -> dict[str, dict[str, Any]]:
        """chunk id -> metadata for every stored chunk (no texts, no vectors)."""
        out: dict[str, dict[str, Any]] = {}
        for ids, _, metas in self._pages(include=["metadatas"]):
            out.update(zip(ids, metas, strict=False))
        return out

    def all_chunks(self) -> list[StoredChunk]:
        out: list[StoredChunk] = []
        for ids, docs, metas in self._pages(include=["documents", "metadatas"]):
            out.extend(StoredChunk(i, d or "", m or {}) for i, d, m in zip(ids, docs, metas, strict=False))
        return out

    def _pages(self, include: list[str]):
        offset = 0
        while True:
            got = self._col.get(include=include, limit=_GET_PAGE, offset=offset)
            ids = got["ids"]
            if not ids:
                return
            docs = got.get("documents") or [None] * len(ids)
            metas = got.get("metadatas") or [{}] * len(ids)
            yield ids, docs, metas
            if len(ids) < _GET_PAGE:
                return
            offset += len(ids)

    def query(self, vector: np.ndarray, k: int, where: dict | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the ``k`` nearest chunks."""
        n = self.count()
        if n == 0:
            return []
        got = self._col.query(query_embeddings=[vector.tolist()], n_results=min(k, n), where=where or None, include=["distances"])
        return [(i, 1.0 - float(d)) for i, d in zip(got["ids"][0], got["distances"][0], strict=False)]

    # -- writing ---------------------------------------------------------------
    def upsert(self, ids: Sequence[str], vectors: np.ndarray, texts: Sequence[str], metas: Sequence[dict]) -> None:
        self._col.upsert(ids=list(ids), embeddings=vectors.tolist(), documents=list(texts), metadatas=list(metas))

    def update_metadata(self, ids: Sequence[str], metas: Sequence[dict]) -> None:
        if ids:
            self._col.update(ids=list(ids), metadatas=list(metas))

    def delete(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), _GET_PAGE):
            self._col.delete(ids=list(ids[start : start + _GET_PAGE]))

    def mark_changed(self, embed_model: str) -> None:
        """Record a new version (time-based) and the embedding model that filled the store."""
        self._col.modify(metadata={"version": str(time.time_ns()), "embed_model": embed_model})
