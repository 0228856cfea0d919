"""The Chroma collection that holds the chunks: embedded (PersistentClient) or a server (HttpClient).

Both clients expose one API, so the rest of newsbot never asks which it has.
Chroma's own default embedding function would download a model, so the
collection is always opened with ``embedding_function=None`` and we pass vectors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import numpy as np

log = logging.getLogger(__name__)
T = TypeVar("T")

COLLECTION = "newsbot_chunks"
# The chunk text is kept in the metadata, not as Chroma's "document": Chroma indexes documents for
# its full-text search (a trigram FTS table), which newsbot never uses (keyword search is its own
# BM25 index), and that index was 7 of 17 s of writing 11,664 chunks. Stores written before this
# hold the text as the document; reads take it from either place.
TEXT_KEY = "text"
_GET_PAGE = 1000  # rows per get(): smaller pages keep the peak memory of a full load lower (measured: 5000 -> 1000 saved 13 MB of 100 at 1,767 chunks)


class StoreError(RuntimeError):
    """The vector store cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class StoredChunk:
    id: str
    text: str
    meta: dict[str, Any]


SERVER_TIMEOUT_S = 6.0  # one request to a Chroma server: a hung server fails the CLI well inside 10 s
CONNECT_TIMEOUT_S = 3.0


def _server_url(chroma_url: str):
    url = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
    if url.scheme not in ("http", "https") or not url.hostname:
        raise StoreError(f"NEWSBOT_CHROMA_URL must look like http://host:8000, not {chroma_url!r}")
    return url


def _unreachable(chroma_url: str, exc: BaseException) -> StoreError:
    reason = " ".join(str(exc).split())[:160] or type(exc).__name__
    return StoreError(
        f"the Chroma server at {chroma_url} is unreachable ({reason}); start it with `chroma run --path DIR` "
        "or unset NEWSBOT_CHROMA_URL to use the embedded store"
    )


def _is_connection_error(exc: BaseException) -> bool:
    """A transport failure (refused, reset, timed out), as opposed to a bad request."""
    import httpx

    if isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError)):
        return True
    return isinstance(exc, ValueError) and "could not connect" in str(exc).lower()


def _client(data_dir: Path, chroma_url: str | None):
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if chroma_url:
        import httpx

        url = _server_url(chroma_url)
        port = url.port or (443 if url.scheme == "https" else 8000)
        base = f"{url.scheme}://{url.hostname}:{port}"
        # chromadb's own client has no timeout at all: probe first so a hung server fails in seconds.
        try:
            httpx.get(f"{base}/api/v2/heartbeat", timeout=httpx.Timeout(SERVER_TIMEOUT_S, connect=CONNECT_TIMEOUT_S))
        except httpx.HTTPError as exc:
            raise _unreachable(chroma_url, exc) from exc
        try:
            client = chromadb.HttpClient(host=url.hostname, port=port, ssl=url.scheme == "https", settings=settings)
        except Exception as exc:  # chromadb raises ValueError/ConnectionError variants
            raise _unreachable(chroma_url, exc) from exc
        session = getattr(getattr(client, "_server", None), "_session", None)
        if session is not None:
            session.timeout = httpx.Timeout(SERVER_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        return client
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return chromadb.PersistentClient(path=str(data_dir / "chroma"), settings=settings)
    except Exception as exc:
        raise _damaged(data_dir, exc) from exc


def _damaged(data_dir: Path, exc: BaseException) -> StoreError:
    reason = " ".join(str(exc).split())[:200] or type(exc).__name__
    return StoreError(
        f"the Chroma data in {data_dir / 'chroma'} cannot be read ({reason}). "
        f"Move that folder aside (or delete it) and run `newsbot index build` to rebuild it from the corpus."
    )


class ChunkStore:
    """Thin wrapper over one Chroma collection of chunks with their metadata.

    Every call goes through :meth:`_call`: with a server, a failed connection
    becomes a one-line :class:`StoreError`, and the next call connects afresh,
    so a process serves again by itself once the server is back.
    """

    def __init__(self, data_dir: Path, chroma_url: str | None = None, collection: str = COLLECTION) -> None:
        self.data_dir = data_dir
        self.chroma_url = chroma_url
        self.collection_name = collection
        self.location = chroma_url or str(data_dir / "chroma")
        self._client: Any = None
        self._col: Any = None
        self._connect()

    def _connect(self) -> Any:
        self._client = _client(self.data_dir, self.chroma_url)
        try:
            self._col = self._client.get_or_create_collection(
                self.collection_name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
        except Exception as exc:
            self._col = None
            if self.chroma_url and _is_connection_error(exc):
                raise _unreachable(self.chroma_url, exc) from exc
            if not self.chroma_url:
                raise _damaged(self.data_dir, exc) from exc
            raise StoreError(f"cannot open the Chroma collection at {self.location}: {exc}") from exc
        return self._col

    def _call(self, fn: Callable[[Any], T]) -> T:
        col = self._col if self._col is not None else self._connect()
        try:
            return fn(col)
        except StoreError:
            raise
        except Exception as exc:
            if self.chroma_url and _is_connection_error(exc):
                self._col = None  # reconnect on the next call
                raise _unreachable(self.chroma_url, exc) from exc
            if self.chroma_url and type(exc).__name__ == "NotFoundError":
                self._col = None  # the server was reset under us: the next call recreates the collection
                raise StoreError(f"the collection {self.collection_name!r} vanished from {self.chroma_url}; try again") from exc
            if not self.chroma_url and type(exc).__name__ == "InternalError":
                raise _damaged(self.data_dir, exc) from exc
            raise

    # -- reading ---------------------------------------------------------------
    def count(self) -> int:
        return self._call(lambda c: c.count())

    def version(self) -> str:
        """Changes whenever a sync has finished writing; readers use it to know their in-memory view is stale.

        Only :meth:`mark_changed` moves it, so a reader does not reload at every block of a build that
        is still running. A store that no sync has marked yet falls back to its count.
        """
        version = self._fresh_metadata().get("version")
        return str(version) if version else f"0:{self.count()}"

    def _fresh_metadata(self) -> dict[str, Any]:
        # A Collection object caches its metadata; another client's writes (another process, or another
        # ChunkStore on the same data dir) show only in a fresh read.
        return self._call(lambda c: self._client.get_collection(self.collection_name).metadata) or {}

    def model_name(self) -> str | None:
        return self._fresh_metadata().get("embed_model")

    def all_metadata(self) -> dict[str, dict[str, Any]]:
        """chunk id -> metadata for every stored chunk (no texts, no vectors)."""
        out: dict[str, dict[str, Any]] = {}
        for ids, _, metas in self._pages(include=["metadatas"]):
            out.update((i, {k: v for k, v in m.items() if k != TEXT_KEY}) for i, m in zip(ids, metas, strict=False))
        return out

    def ids_of(self, doc_id: str) -> list[str]:
        """Chunk ids of one article (a metadata-filtered read, not a scan)."""
        return list(self._call(lambda c: c.get(where={"doc_id": doc_id}, include=[]))["ids"])

    def all_chunks(self) -> list[StoredChunk]:
        out: list[StoredChunk] = []
        for ids, docs, metas in self._pages(include=["documents", "metadatas"]):
            for chunk_id, doc, meta in zip(ids, docs, metas, strict=False):
                meta = dict(meta or {})
                text = meta.pop(TEXT_KEY, None) or doc or ""
                out.append(StoredChunk(chunk_id, str(text), meta))
        return out

    def _pages(self, include: list[str]):
        offset = 0
        while True:
            got = self._call(lambda c, offset=offset: c.get(include=include, limit=_GET_PAGE, offset=offset))
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
        got = self._call(
            lambda c: c.query(query_embeddings=[vector.tolist()], n_results=min(k, n), where=where or None, include=["distances"])
        )
        return [(i, 1.0 - float(d)) for i, d in zip(got["ids"][0], got["distances"][0], strict=False)]

    def embeddings(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """chunk id -> stored vector, for the given ids (missing ids are left out)."""
        if not ids:
            return {}
        got = self._call(lambda c: c.get(ids=list(ids), include=["embeddings"]))
        vectors = got.get("embeddings")
        if vectors is None:
            return {}
        return {i: np.asarray(v, dtype=np.float32) for i, v in zip(got["ids"], vectors, strict=False)}

    # -- writing ---------------------------------------------------------------
    def upsert(self, ids: Sequence[str], vectors: np.ndarray, texts: Sequence[str], metas: Sequence[dict]) -> None:
        rows = [{**meta, TEXT_KEY: text} for meta, text in zip(metas, texts, strict=True)]
        self._call(lambda c: c.upsert(ids=list(ids), embeddings=vectors, metadatas=rows))

    def update_metadata(self, ids: Sequence[str], metas: Sequence[dict]) -> None:
        if ids:
            self._call(lambda c: c.update(ids=list(ids), metadatas=list(metas)))

    def delete(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), _GET_PAGE):
            batch = list(ids[start : start + _GET_PAGE])
            self._call(lambda c, batch=batch: c.delete(ids=batch))

    def mark_writing(self) -> None:
        """Flag the store as being written (the version stays): until :meth:`mark_changed`, no saved view of it is trusted."""
        meta = self._fresh_metadata()
        self._call(lambda c: c.modify(metadata={**meta, "writing": 1}))

    def is_writing(self) -> bool:
        """A write began and has not been marked done (it is running, or it was killed)."""
        return bool(self._fresh_metadata().get("writing"))

    def mark_changed(self, embed_model: str) -> None:
        """Record a new version (time-based) and the embedding model that filled the store; clears the writing flag."""
        self._call(lambda c: c.modify(metadata={"version": str(time.time_ns()), "embed_model": embed_model, "writing": 0}))
