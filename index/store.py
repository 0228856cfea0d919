"""The Chroma collection that holds the chunks: embedded (PersistentClient) or a server (HttpClient).

Both clients expose one API, so the rest of newsbot never asks which it has.
Chroma's own default embedding function would download a model, so the
collection is always opened with ``embedding_function=None`` and we pass vectors.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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


class StoreDamagedError(StoreError):
    """The embedded store's files cannot be read: move them aside and rebuild."""


class StoreUnwritableError(StoreError):
    """The data dir cannot be written (permissions, a read-only mount, a full disk); the store may be healthy."""


class VectorsMissingError(StoreError):
    """The store lists chunks whose vectors are gone (its HNSW folder was deleted); `index build` re-embeds them."""


class StoreBusyError(StoreError):
    """Another process is writing the index: a writer waited too long for it, or a reader met its half-written state."""


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


_OVERRIDES_PATCH = threading.RLock()  # two threads opening clients at once must not save each other's patch


@contextmanager
def _without_override_checks() -> Iterator[None]:
    """Import and open chromadb with the ``overrides`` package's decorator reduced to the mark it leaves.

    chromadb decorates about 160 methods with ``overrides.override``, which, as each class is defined,
    disassembles the class body and compares the method's signature with its base class's: about 0.14 s of
    a cold ``newsbot ask`` (1.07 -> 0.93 s, median of 8 interleaved runs at 2 articles). Those checks can only
    fail on a bug in chromadb's own class definitions; what the decorator leaves for run time is the
    ``__override__`` mark, which ``EnforceOverrides`` classes require, and that is kept. The real decorator
    is put back on the way out, so code imported later is checked as usual.
    """
    try:
        import overrides
    except ImportError:  # a chromadb that no longer uses it
        yield
        return

    def mark_only(method: Any = None, **_options: Any) -> Any:
        if method is None:  # used as @override(check_signature=...)
            return mark_only
        method.__override__ = True
        return method

    with _OVERRIDES_PATCH:
        saved = overrides.override, overrides.overrides
        overrides.override = overrides.overrides = mark_only
        try:
            yield
        finally:
            overrides.override, overrides.overrides = saved


def _client(data_dir: Path, chroma_url: str | None):
    if not chroma_url:
        return _embedded(data_dir).client
    with _without_override_checks():
        return _server_client(chroma_url)


def _server_client(chroma_url: str):
    import chromadb
    import httpx
    from chromadb.config import Settings

    url = _server_url(chroma_url)
    port = url.port or (443 if url.scheme == "https" else 8000)
    base = f"{url.scheme}://{url.hostname}:{port}"
    # chromadb's own client has no timeout at all: probe first so a hung server fails in seconds.
    try:
        httpx.get(f"{base}/api/v2/heartbeat", timeout=httpx.Timeout(SERVER_TIMEOUT_S, connect=CONNECT_TIMEOUT_S))
    except httpx.HTTPError as exc:
        raise _unreachable(chroma_url, exc) from exc
    try:
        client = chromadb.HttpClient(
            host=url.hostname, port=port, ssl=url.scheme == "https", settings=Settings(anonymized_telemetry=False)
        )
    except Exception as exc:  # chromadb raises ValueError/ConnectionError variants
        raise _unreachable(chroma_url, exc) from exc
    session = getattr(getattr(client, "_server", None), "_session", None)
    if session is not None:
        session.timeout = httpx.Timeout(SERVER_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    return client


@dataclass
class _Embedded:
    """This process's one client of an embedded store, which load of the files it is, and the store's state then."""

    client: Any
    generation: int = 0
    state: tuple | None = None  # (version, writing token) as loaded, or as this process last wrote it


_EMBEDDED: dict[str, _Embedded] = {}
_EMBEDDED_GUARD = threading.Lock()


def _open_embedded(data_dir: Path) -> Any:
    import chromadb
    from chromadb.config import Settings

    from index.writelock import opening

    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with opening(data_dir):
            # The resolved path: Chroma keeps one in-memory store per path string and process, and two of
            # them on the same files (`data` and `./data`) would be two writers.
            path = str(Path(data_dir).resolve() / "chroma")
            return chromadb.PersistentClient(path=path, settings=Settings(anonymized_telemetry=False))
    except Exception as exc:
        raise diagnose(data_dir, exc) from exc


def _embedded(data_dir: Path, reload: bool = False) -> _Embedded:
    """The process-wide client of the embedded store in ``data_dir``; ``reload`` replaces it with a fresh load of the files."""
    key = str(Path(data_dir).resolve())  # as ChunkStore._key
    with _EMBEDDED_GUARD:
        entry = _EMBEDDED.get(key)
        if entry is None:
            with _without_override_checks():
                entry = _EMBEDDED[key] = _Embedded(_open_embedded(data_dir))
        elif reload:
            entry.client.close()  # the last reference: Chroma drops its in-memory copy, the next client reads the files
            entry.client = _open_embedded(data_dir)
            entry.generation += 1
            entry.state = None
        return entry


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


# How an unwritable store shows in Chroma's and the OS's errors (sqlite's SQLITE_READONLY, EACCES, EPERM, EROFS, ENOSPC).
_UNWRITABLE = re.compile(
    r"readonly database|read-only file system|permission denied|operation not permitted|disk is full|no space left"
    r"|os error (?:1|13|28|30)\b",
    re.IGNORECASE,
)


def write_problem(folder: Path) -> str | None:
    """Why this process cannot write the embedded store under ``folder`` (None when a probe finds no reason)."""
    chroma = folder / "chroma"
    for target in (folder, chroma):
        if target.is_dir():
            try:
                with tempfile.TemporaryFile(dir=target):
                    pass
            except OSError as exc:
                return f"{target}: {exc.strerror or exc}"
    database = chroma / "chroma.sqlite3"
    if database.exists():
        try:
            os.close(os.open(database, os.O_RDWR))
        except OSError as exc:
            return f"{database}: {exc.strerror or exc}"
    return None


def unwritable(data_dir: Path, exc: BaseException | None = None, problem: str | None = None) -> StoreUnwritableError:
    """The message for a data dir newsbot cannot write: never advice to delete it, which would destroy a healthy index."""
    reason = problem or write_problem(data_dir) or (_reason(exc) if exc is not None else "not writable")
    return StoreUnwritableError(
        f"newsbot cannot write to its data dir {data_dir} ({reason}). It must: the embedded Chroma writes there "
        "even to answer, and every change to the index takes a lock there. Give this user write access to it "
        "(or free disk space), or point NEWSBOT_DATA_DIR at a writable copy. The index in it is not damaged: do not delete it."
    )


def _damaged(data_dir: Path, exc: BaseException) -> StoreError:
    return StoreDamagedError(
        f"the Chroma data in {data_dir / 'chroma'} cannot be read ({_reason(exc)}). "
        f"Move that folder aside (or delete it) and run `newsbot index build` to rebuild it from the corpus."
    )


def vectors_missing(data_dir: Path, exc: BaseException | None = None, then: str = "") -> VectorsMissingError:
    """The message for a store whose vectors are gone: `index build` re-embeds the corpus (``then``: what to do after)."""
    detail = f"; {_reason(exc)}" if exc is not None else ""
    return VectorsMissingError(
        f"the index in {data_dir / 'chroma'} has lost its vectors (its HNSW segment folder is missing or incomplete{detail}). "
        f"Run `newsbot index build` to embed the corpus again{then}."
    )


def diagnose(data_dir: Path, exc: BaseException) -> StoreError:
    """What an error of the embedded store means, as a :class:`StoreError` that says what to do.

    In this order: a store this process cannot write (the embedded Chroma cannot even open it), another
    process writing (a reader met its half-written state), vectors gone, and only then damage, whose advice
    is to move the folder aside.
    """
    from index.writelock import writer_pid

    text = str(exc)
    problem = write_problem(data_dir)
    if problem is not None or _UNWRITABLE.search(text):
        return unwritable(data_dir, exc, problem)
    pid = writer_pid(data_dir)
    if pid is not None and pid != os.getpid():
        who = f"pid {pid}" if pid > 0 else "pid unknown"
        return StoreBusyError(
            f"another newsbot process is writing the index ({who}) and it cannot be read consistently meanwhile "
            f"({_reason(exc)}); try again when it has finished"
        )
    if "error finding id" in text.lower():
        return vectors_missing(data_dir, exc)
    return _damaged(data_dir, exc)


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
        # Resolved: `./data`, `/abs/data` and `data/../data` are one store (and one keyword snapshot, keyed by this).
        self.location = chroma_url or str(Path(data_dir).resolve() / "chroma")
        self._client: Any = None
        self._col: Any = None
        self._key = str(Path(data_dir).resolve())
        self._generation = 0  # of the process's embedded client this object's collection handle comes from
        self._connect()

    def _connect(self) -> Any:
        if self.chroma_url:
            self._client = _client(self.data_dir, self.chroma_url)
        else:
            entry = _embedded(self.data_dir)
            self._client, self._generation = entry.client, entry.generation
        try:
            self._col = self._client.get_or_create_collection(
                self.collection_name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
        except Exception as exc:
            self._col = None
            if self.chroma_url and _is_connection_error(exc):
                raise _unreachable(self.chroma_url, exc) from exc
            if not self.chroma_url:
                raise diagnose(self.data_dir, exc) from exc
            raise StoreError(f"cannot open the Chroma collection at {self.location}: {exc}") from exc
        if not self.chroma_url and entry.state is None:
            entry.state = self._state()  # what this load of the files holds (see catch_up)
        return self._col

    def _current_generation(self) -> int:
        entry = _EMBEDDED.get(self._key)
        return entry.generation if entry is not None else -1

    def _call(self, fn: Callable[[Any], T]) -> T:
        stale = not self.chroma_url and self._generation != self._current_generation()
        col = self._col if self._col is not None and not stale else self._connect()
        generation = self._generation
        try:
            return fn(col)
        except StoreError:
            raise
        except Exception as exc:
            if not self.chroma_url and generation != self._current_generation():
                return fn(self._connect())  # another thread reloaded the client under this call: once more on the new one
            if self.chroma_url and _is_connection_error(exc):
                self._col = None  # reconnect on the next call
                raise _unreachable(self.chroma_url, exc) from exc
            if self.chroma_url and type(exc).__name__ == "NotFoundError":
                self._col = None  # the server was reset under us: the next call recreates the collection
                raise StoreError(f"the collection {self.collection_name!r} vanished from {self.chroma_url}; try again") from exc
            if not self.chroma_url and type(exc).__name__ == "InternalError":
                raise diagnose(self.data_dir, exc) from exc
            raise

    # -- following other processes' writes (embedded store) ---------------------------
    def catch_up(self) -> bool:
        """Reload this process's embedded client if another process changed the store since it was loaded.

        Each process's embedded Chroma keeps the vector index (HNSW) in memory as it was when opened, plus
        its own writes; another process's writes reach it only by reloading the files. A writer that wrote
        from a stale copy overwrote the other's vectors (that, not only writing at the same time, is how two
        builds corrupted the store), and a reader asked for vectors its copy lacks ("Error finding id").
        Writers call this holding the writer lock, readers when the store's version moves. Returns whether it reloaded.
        """
        if self.chroma_url:
            return False
        entry = _embedded(self.data_dir)
        if self._state() == entry.state:
            return False
        log.debug("the store in %s changed in another process: reloading it", self.location)
        entry = _embedded(self.data_dir, reload=True)
        self._connect()
        entry.state = self._state()
        return True

    def _state(self) -> tuple:
        # Every write is bracketed by mark_writing (a new token) and mark_changed (a new version), so this
        # pair moves with every write of any process, and not with the blocks of a write in progress.
        meta = self._fresh_metadata()
        return (str(meta.get("version", "")), str(meta.get("writing", 0)))

    def _note_own_write(self) -> None:
        """Our own writes are in our in-memory copy already: they are no reason to reload."""
        if not self.chroma_url:
            _embedded(self.data_dir).state = self._state()

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

    def missing_vectors(self, sample: int = 8) -> bool:
        """Whether stored chunks have lost their vectors: the embedded store's HNSW folder was deleted or left incomplete.

        Chroma then still counts and lists every chunk and answers queries from the few vectors still in
        its log, so a question would be answered from a fraction of the corpus without a word. Reads the
        vectors of the ``sample`` oldest chunks, the ones whose vectors only the HNSW files hold (Chroma's
        log keeps the newest): 3 ms at 12,553 chunks. A server is not checked.
        """
        if self.chroma_url:
            return False
        ids = self._call(lambda c: c.get(include=[], limit=sample))["ids"]
        if not ids:
            return False
        try:
            got = self._call(lambda c: c.get(ids=ids, include=["embeddings"]))
        except VectorsMissingError:
            return True
        vectors = got.get("embeddings")
        return vectors is None or len(vectors) < len(ids)

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
        """Flag the store as being written (the version stays): until :meth:`mark_changed`, no saved view of it is trusted.

        The flag is a fresh token each time, so that another process sees every write begin (:meth:`catch_up`).
        """
        meta = self._fresh_metadata()
        self._call(lambda c: c.modify(metadata={**meta, "writing": time.time_ns()}))
        self._note_own_write()

    def is_writing(self) -> bool:
        """A write began and has not been marked done (it is running, or it was killed)."""
        return bool(self._fresh_metadata().get("writing"))

    def mark_changed(self, embed_model: str) -> None:
        """Record a new version (time-based) and the embedding model that filled the store; clears the writing flag."""
        self._call(lambda c: c.modify(metadata={"version": str(time.time_ns()), "embed_model": embed_model, "writing": 0}))
        self._note_own_write()
