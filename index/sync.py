"""Bring the store in line with the corpus folder: embed what is new or changed, delete what is gone.

The unit of comparison is the chunk id (``doc_id:chunk_no:content-hash``).
An article is unchanged when its stored chunks carry the hash of the file as
it is now and are complete (all ``n_chunks`` present); only then is it skipped
without being read. Everything else is re-chunked, and only chunk ids missing
from the store are embedded. Because the check is on stored ids, a build that
was killed part way leaves nothing the next build does not repair.
"""

from __future__ import annotations

import functools
import logging
import math
import shutil
import sys
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from index.build_embed import BuildEmbedder
from index.chunk import PIPELINE_VERSION, Chunk, chunk_article
from index.embed import CHUNK_BATCH, Embedder
from index.keyword import KeywordIndex, complete_snapshot, open_keyword_index, snapshot_root, sweep_temp_folders
from index.load import (
    SUPPORTED_SUFFIXES,
    Article,
    ArticleError,
    corpus_files,
    doc_id_for,
    doc_id_from_user,
    file_hash,
    files_by_id,
    is_article_name,
    load_article,
    scan_corpus,
)
from index.store import ChunkStore, StoreError, vectors_missing
from index.writelock import DEFAULT_WAIT_S, WriteLock

log = logging.getLogger(__name__)

STORE_BLOCK = 128  # chunks embedded and written together: a block is ~3 s of work, all a dead server or a kill can cost
TITLE_MARGIN = 8  # word pieces kept free for [CLS]/[SEP] and the title separator


@dataclass
class SyncReport:
    """What one sync did, as printed by ``newsbot index build --json``."""

    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    chunks_embedded: int = 0
    precision: str = ""  # what the chunks were embedded in: float32 (the query path's model), bfloat16 (its twin) or mixed
    skipped: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)  # doc id -> the corpus file its article was read from

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("files")
        return data


@dataclass(frozen=True)
class Added:
    """What adding a file did: the article as indexed (read from its corpus file), its chunks, that file."""

    article: Article
    chunks: int
    path: Path
    new: bool  # False: an identical file was already in the corpus, and nothing changed


@dataclass(frozen=True)
class Removed:
    """What removing an article did: the corpus files deleted and the chunks taken out of the store."""

    doc_id: str
    files: list[Path]
    chunks: int


def _doc_hash(raw_hash: str) -> str:
    return f"{PIPELINE_VERSION}:{raw_hash}"


class CorpusError(ValueError):
    """The corpus folder is missing or holds no article: syncing would empty the index."""


def corpus_problem(corpus_dir: Path, files: list[Path] | None = None) -> str | None:
    """Why ``corpus_dir`` cannot be the corpus (missing, or no article file in it), or None; ``files``: its corpus_files."""
    if not corpus_dir.is_dir():
        return f"the corpus folder {corpus_dir} does not exist (NEWSBOT_CORPUS_DIR)"
    if not (corpus_files(corpus_dir) if files is None else files):
        return f"the corpus folder {corpus_dir} holds no article files ({', '.join(SUPPORTED_SUFFIXES)})"
    return None


def check_corpus(corpus_dir: Path, files: list[Path] | None = None) -> None:
    """Refuse a missing or empty corpus folder (:class:`CorpusError`): a sync with it would delete every article."""
    if (problem := corpus_problem(corpus_dir, files)) is not None:
        raise CorpusError(
            f"{problem}; nothing was changed. Point NEWSBOT_CORPUS_DIR at your articles, "
            "or run `newsbot index build --allow-empty` to empty the index on purpose"
        )


def _one_writer(method):
    """Run an :class:`Indexer` method holding the index's writer lock (reentrant: a sync inside ``add_file`` is fine)."""

    @functools.wraps(method)
    def locked(self: Indexer, *args, **kwargs):
        with self.lock.hold():
            self.store.catch_up()  # another process may have written since this one loaded the store
            return method(self, *args, **kwargs)

    return locked


def chunks_for(article: Article, embedder: Embedder, chunk_tokens: int) -> list[Chunk]:
    """Chunks of an article sized so that title + text fit the model's window."""
    room = embedder.max_tokens - embedder.count_tokens(article.title) - TITLE_MARGIN
    return chunk_article(article, embedder.count_tokens, max_tokens=max(32, min(chunk_tokens, room)))


class Indexer:
    """Keeps a :class:`ChunkStore` in line with a corpus folder."""

    def __init__(
        self,
        store: ChunkStore,
        embedder: Embedder,
        corpus_dir: Path,
        chunk_tokens: int = 128,
        progress: Callable[[int], Callable[[int], None]] | None = None,
        notify: Callable[[str], None] | None = None,
        write_wait: float = DEFAULT_WAIT_S,
        build_precision: str = "auto",
        build_embedder: BuildEmbedder | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.corpus_dir = corpus_dir
        self.chunk_tokens = chunk_tokens
        self._progress = progress
        self.notify = notify or log.warning
        self.lock = WriteLock(store.data_dir, write_wait, self.notify)  # every write below holds it
        # What a build's many texts are embedded with: the query path's model, or its bfloat16 twin where faster.
        self.build_embedder = build_embedder or BuildEmbedder(
            embedder, getattr(embedder, "cache_dir", None), build_precision, self.notify, query_batch=CHUNK_BATCH
        )

    def _check_model(self) -> None:
        stored = self.store.model_name()
        if stored and stored != self.embedder.name and self.store.count():
            raise StoreError(
                f"the index was built with the model {stored!r}, not {self.embedder.name!r}; "
                "run `newsbot index build --rebuild` to re-embed everything"
            )

    @_one_writer
    def sync(self, only: set[str] | None = None, *, rebuild: bool = False, allow_empty: bool = False) -> SyncReport:
        """Sync the whole corpus, or only the doc ids in ``only`` (others are left alone).

        ``rebuild`` drops every stored chunk first. A whole-corpus sync refuses a missing or empty corpus
        folder (:class:`CorpusError`) unless ``allow_empty``; a store whose vectors are gone is rebuilt.
        """
        scan = scan_corpus(self.corpus_dir)
        if only is None and not allow_empty:
            check_corpus(self.corpus_dir, scan.files)
        rebuilt = self._prepare(only, rebuild)
        self._check_model()
        report = SyncReport()
        stored_by_doc: dict[str, dict[str, dict]] = defaultdict(dict)
        for chunk_id, meta in self._stored_metadata().items():
            stored_by_doc[str(meta.get("doc_id", chunk_id.split(":")[0]))][chunk_id] = meta

        to_embed: list[tuple[Chunk, dict]] = []
        to_update: dict[str, dict] = {}  # kept chunks whose metadata (file hash, date, ...) changed
        to_delete: list[str] = []
        seen: set[str] = set()
        for path, reason in scan.skipped:
            self._skip(report, path, reason)
        for doc_id, paths in files_by_id(scan.files).items():
            if only is not None and doc_id not in only:
                seen.add(doc_id)
                continue
            stored = stored_by_doc.get(doc_id, {})
            path = _keeper(paths, stored)
            for other in paths:
                if other != path:
                    self._skip(report, other, f"its article id {doc_id!r} is taken by {self._shown(path)}; rename one of them")
            try:
                raw_hash = file_hash(path.read_bytes())
            except OSError as exc:
                self._skip(report, path, f"cannot read file: {exc.strerror or exc}")
                continue
            doc_hash = _doc_hash(raw_hash)
            if stored and _complete(stored, doc_hash):
                seen.add(doc_id)
                report.unchanged += 1
                report.files[doc_id] = path
                continue
            try:
                article = load_article(path)
            except ArticleError as exc:
                self._skip(report, path, str(exc))
                continue  # an unusable file's old chunks are removed below, as for a deleted one
            seen.add(doc_id)
            report.files[doc_id] = path
            chunks = chunks_for(article, self.embedder, self.chunk_tokens)
            metas = {c.id: c.metadata(article, len(chunks), doc_hash) for c in chunks}
            to_update.update((c.id, metas[c.id]) for c in chunks if c.id in stored)
            to_embed.extend((c, metas[c.id]) for c in chunks if c.id not in stored)
            to_delete.extend(i for i in stored if i not in metas)
            if stored:
                report.updated += 1
            else:
                report.added += 1

        for doc_id, stored in stored_by_doc.items():
            if doc_id not in seen and (only is None or doc_id in only):
                to_delete.extend(stored)
                report.deleted += 1

        report.chunks_embedded = len(to_embed)
        if to_embed or to_delete or to_update or rebuilt:
            # Longest first, like SentenceTransformer.encode does within one call: batches of texts of about the same
            # length waste little on padding.
            to_embed.sort(key=lambda item: len(item[0].embed_text), reverse=True)
            embedder = self.build_embedder.for_chunks([c.embed_text for c, _ in to_embed])
            self.store.mark_writing()
            self.store.update_metadata(list(to_update), list(to_update.values()))
            self._embed_and_store(to_embed, embedder)
            self.store.delete(to_delete)
            self._mark_changed(embedder)
            # Read after the embedding: a twin that failed part way handed the rest to the query path ("mixed").
            report.precision = getattr(embedder, "precision", "float32") if to_embed else ""
        elif only is None:
            complete_snapshot(self.store, self.embedder)  # nothing changed: still, never leave answers without vectors
        return report

    def _shown(self, path: Path) -> str:
        """A corpus file as messages name it: its path inside the corpus folder."""
        return str(path.relative_to(self.corpus_dir)) if path.is_relative_to(self.corpus_dir) else str(path)

    def _skip(self, report: SyncReport, path: Path, reason: str) -> None:
        report.skipped.append(f"{self._shown(path)}: {reason}")
        # Info, not a warning: every caller shows report.skipped (a warning too would say it twice on a terminal).
        log.info("skipped %s: %s", path, reason)

    def _prepare(self, only: set[str] | None, rebuild: bool) -> bool:
        """Before a sync, under the lock: snapshot folders a killed writer left, lost vectors, ``rebuild``.

        Returns whether every stored chunk was dropped (``rebuild``, or to repair lost vectors).
        """
        sweep_temp_folders(snapshot_root(self.store))
        if not rebuild and self.store.missing_vectors():
            if only is not None:
                raise vectors_missing(self.store.data_dir, then=", then add the article again")
            self.notify("The index has lost its vectors (its HNSW folder is missing or incomplete): embedding the corpus again...")
            rebuild = True
        if rebuild:
            self.store.mark_writing()
            self.store.delete(list(self.store.all_metadata()))
        return rebuild

    def _stored_metadata(self) -> dict[str, dict]:
        """chunk id -> metadata of every stored chunk.

        Read from the keyword snapshot when it provably shows the store as it is (same version, same
        count, no write begun since): at 11,664 chunks that is ~0.1 s against 1.5 s for reading
        Chroma. Otherwise, as after a build that was killed, from the store itself.
        """
        if not self.store.is_writing():
            snapshot = KeywordIndex.load(snapshot_root(self.store), self.store.version())
            if snapshot is not None and len(snapshot.chunks) == self.store.count():
                return {c.id: c.meta for c in snapshot.chunks}
        return self.store.all_metadata()

    def _mark_changed(self, embedder: Embedder | None = None) -> None:
        """Record the change, then save the keyword snapshot of the new version so readers need not build it."""
        self.store.mark_changed(self.embedder.name)
        open_keyword_index(self.store, embedder=embedder or self.embedder)

    def _embed_and_store(self, items: list[tuple[Chunk, dict]], embedder: Embedder) -> None:
        # Storing block by block keeps a killed build's loss to one block, which the next build re-embeds.
        # A block is written by a worker thread while the next one is embedded. That hides a server's
        # writes (network waits) behind the model, but the embedded store's only in part: its Rust
        # client holds the GIL while it writes (with a zero-cost embedder the main thread waited on
        # it), so the model only runs on through the torch op it is in.
        # At most one write is in flight, so its error (a server gone) surfaces within one block.
        batch_size = getattr(embedder, "batch_size", CHUNK_BATCH)
        tick = self._progress(len(items)) if self._progress and items else None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsbot-store") as writer:
            pending: Future | None = None
            for start in range(0, len(items), STORE_BLOCK):
                batch = items[start : start + STORE_BLOCK]
                vectors = embedder.embed_documents([c.embed_text for c, _ in batch], batch_size=batch_size)
                if pending is not None:
                    pending.result()
                ids, texts, metas = [c.id for c, _ in batch], [c.text for c, _ in batch], [m for _, m in batch]
                pending = writer.submit(self.store.upsert, ids, vectors, texts, metas)
                if tick:
                    tick(len(batch))
            if pending is not None:
                pending.result()

    @_one_writer
    def add_file(self, source: Path) -> Added:
        """Copy ``source`` into the corpus and index it.

        The file is validated before it is copied, so a broken file never lands in the corpus. A file
        whose article id a corpus file already has (ids ignore case and extension: `X.md` or `x.txt`
        beside `x.md`) is refused with that file named, never silently swapped in; a file identical to
        one already in the corpus changes nothing. The article returned is the one indexed.
        """
        article = load_article(source)  # raises ArticleError with the reason
        if not is_article_name(source.name):
            raise ArticleError(f"{source.name}: hidden files and READMEs are not read as articles; rename the file")
        doc_id, raw = article.doc_id, source.read_bytes()
        holders = [p for p in corpus_files(self.corpus_dir) if doc_id_for(p) == doc_id]
        same = [p for p in holders if _same_content(p, source, raw)]
        if holders and not same:
            taken = ", ".join(self._shown(p) for p in holders)
            raise ArticleError(
                f"the article id {doc_id!r} is taken by {taken} in the corpus (ids ignore case and extension); "
                f"rename {source.name} to add it as another article, or to replace the old one, "
                f"run `newsbot index remove {doc_id}` first"
            )
        target = self.corpus_dir / source.name
        copied = False
        if not same:
            if target.exists() or target.is_symlink():  # a file the corpus does not read as an article (a symlink out)
                raise ArticleError(f"{self._shown(target)} is in the corpus folder but not an article it reads; rename your file")
            self.corpus_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            copied = True
        report = self.sync(only={doc_id})
        path = report.files.get(doc_id)
        if path is None:
            if copied:
                target.unlink(missing_ok=True)
            why = [line for line in report.skipped if doc_id_for(Path(line.split(": ", 1)[0])) == doc_id]
            raise ArticleError(f"{source.name} was not indexed: {'; '.join(why) or 'no text to index'}")
        return Added(load_article(path), len(self.store.ids_of(doc_id)), path, new=not same)

    @_one_writer
    def remove(self, doc_id: str) -> Removed:
        """Delete an article: every corpus file with its id (any case, any extension) and its chunks.

        All the files go, so the article cannot come back on the next build; ``doc_id`` may be typed
        in any case or as a file name (`X.md`).
        """
        doc_id = doc_id_from_user(doc_id)
        files = [p for p in corpus_files(self.corpus_dir) if doc_id_for(p) == doc_id]
        ids = self.store.ids_of(doc_id) if doc_id else []
        if not files and not ids:
            raise KeyError(doc_id)
        for path in files:
            path.unlink()
        self.store.mark_writing()
        self.store.delete(ids)
        self._mark_changed()
        return Removed(doc_id, files, len(ids))


def _keeper(paths: list[Path], stored: dict[str, dict]) -> Path:
    """Of the files that share one article id, the one the article is read from.

    The one indexed now (same content, else same file name), else the oldest file: a newcomer never
    replaces an indexed article, and nothing is lost, since the others stay on disk, skipped with a
    warning naming both, until one is renamed.
    """
    if len(paths) == 1:
        return paths[0]
    first = next(iter(stored.values()), {})

    def rank(path: Path) -> tuple:
        try:
            same = _doc_hash(file_hash(path.read_bytes())) == first.get("doc_hash")
            mtime = path.stat().st_mtime
        except OSError:
            same, mtime = False, math.inf
        return (not same, path.name != first.get("path"), mtime, str(path))

    return min(paths, key=rank)


def _same_content(path: Path, source: Path, raw: bytes) -> bool:
    try:
        return path.resolve() == source.resolve() or (path.stat().st_size == len(raw) and path.read_bytes() == raw)
    except OSError:
        return False


def _complete(stored: dict[str, dict], doc_hash: str) -> bool:
    """All chunks of the current file version are present, and nothing else."""
    metas = list(stored.values())
    if any(m.get("doc_hash") != doc_hash for m in metas):
        return False
    n = int(metas[0].get("n_chunks", -1))
    return sorted(int(m.get("chunk_no", -1)) for m in metas) == list(range(n))


def rich_progress(total: int) -> Callable[[int], None]:
    """A rich progress bar on stderr for builds with enough chunks to take a moment."""
    if total < 200 or not sys.stderr.isatty():
        return lambda n: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress("embedding", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True)
    bar.start()
    task = bar.add_task("embed", total=total)
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        bar.update(task, advance=n)
        if done[0] >= total:
            bar.stop()

    return tick
