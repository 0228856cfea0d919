"""One writer at a time on the index: a lock file under ``NEWSBOT_DATA_DIR`` that every writer holds.

Two processes writing one embedded Chroma store corrupt it while both report success: measured here
with two ``index build`` runs at once, the next write fails with "Error in compaction: Failed to apply
logs to the hnsw segment writer", and from then on so does every command. So every writer (``index
build``, ``index add``, ``index remove``, the first-run build inside ``ask``, the bot's ``/add`` and
``/reindex``) holds :class:`WriteLock` while it writes. A second writer says that it waits, then either
goes on once the first has finished (and, the sync being idempotent, finds little or nothing left to
do) or, after ``NEWSBOT_WRITE_WAIT`` seconds, stops with :class:`~index.store.StoreBusyError`.

It is an OS lock (``fcntl.flock`` through filelock): the kernel drops it when its holder exits, killed
or not, so no stale lock outlives a crash. The lock file holds the pid of its last holder, for the
messages. Within one process the lock is reentrant in a thread and exclusive between threads (the
bot's ``/add`` and ``/reindex`` run in worker threads).

With a Chroma server the lock still serialises the writers of one machine, which share the data dir;
writers on other machines are not serialised by it.

Readers do not take the lock. Opening the embedded store is serialised by a second, short lock
(:func:`opening`): two processes creating a new store at once raced in Chroma's migrations ("table
collections already exists").
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)

LOCK_FILE = "index-write.lock"
OPEN_LOCK_FILE = "index-open.lock"
DEFAULT_WAIT_S = 120.0  # NEWSBOT_WRITE_WAIT: an incremental build or an `index add` takes seconds, a first build of thousands of articles minutes
GRACE_S = 0.3  # waited before saying that we wait
OPEN_WAIT_S = 60.0  # opening a store takes well under a second; this only bounds a pathological wait


def _record_holder(fd: int) -> None:
    """Write our pid into the lock file we now hold (filelock's ``on_acquired`` hook), for a waiter's message."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def _file_lock(path: Path) -> FileLock:
    # One instance per lock file and process (is_singleton), always built with the same arguments as
    # filelock requires of a singleton; the timeout is given at each acquire.
    return FileLock(path, is_singleton=True, on_acquired=_record_holder)


def _holder_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _who(pid: int | None) -> str:
    if pid == os.getpid():
        return "another task of this process is writing the index"
    return f"another newsbot process is writing the index (pid {pid if pid else 'unknown'})"


class WriteLock:
    """The index's writer lock under ``data_dir``; ``with lock.hold(): ...`` around every write."""

    def __init__(self, data_dir: Path, wait: float = DEFAULT_WAIT_S, notify: Callable[[str], None] | None = None) -> None:
        self.path = Path(data_dir) / LOCK_FILE
        self.wait = wait
        self.notify = notify or log.warning

    @contextmanager
    def hold(self, wait: float | None = None) -> Iterator[None]:
        """Hold the lock for the block; wait up to ``wait`` seconds (default: the lock's) for another writer.

        Raises :class:`~index.store.StoreBusyError` when the other writer is still at it after the wait,
        and :class:`~index.store.StoreUnwritableError` when the lock file cannot be created.
        """
        from index.store import StoreBusyError

        wait = self.wait if wait is None else max(0.0, wait)
        lock = self._acquire_now()
        if lock is None:
            pid = _holder_pid(self.path)
            self.notify(f"{_who(pid)}; waiting up to {wait:g}s...")
            lock = _file_lock(self.path)
            try:
                lock.acquire(timeout=wait)
            except Timeout:
                raise StoreBusyError(
                    f"{_who(_holder_pid(self.path) or pid)} and has not finished after {wait:g}s; "
                    "try again when it has (NEWSBOT_WRITE_WAIT sets how long to wait)"
                ) from None
        try:
            yield
        finally:
            lock.release()

    def _acquire_now(self) -> FileLock | None:
        """The lock, taken at once; None when another writer has it.

        (A reader that asks :func:`writer_pid` holds the lock for microseconds: the short grace keeps
        that from printing a "waiting" notice.)
        """
        from index.store import unwritable

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = _file_lock(self.path)
            lock.acquire(timeout=GRACE_S)
        except Timeout:
            return None
        except OSError as exc:
            raise unwritable(self.path.parent, exc) from exc
        return lock

    def holder(self) -> int | None:
        """The pid of the process writing the index now (ours if this process is), or None if no one is."""
        return writer_pid(self.path.parent)


def writer_pid(data_dir: Path) -> int | None:
    """The pid of the process holding the writer lock of ``data_dir`` now (ours if this process holds it), or None.

    None also when it cannot be told (a data dir this process cannot write). An unknown pid is -1.
    """
    path = Path(data_dir) / LOCK_FILE
    if not path.exists():
        return None
    try:
        # A separate instance and descriptor: it fails against any holder, this process's own threads included,
        # and, without the holder hook, leaves the last writer's pid in the file.
        lock = FileLock(path, is_singleton=False)
        lock.acquire(blocking=False)
    except Timeout:
        return _holder_pid(path) or -1
    except OSError:
        return None  # a read-only data dir: no one can be writing through it
    lock.release()
    return None


@contextmanager
def opening(data_dir: Path) -> Iterator[None]:
    """Serialise opening the embedded store among processes (Chroma migrates a new store's schema as it opens)."""
    try:
        lock: FileLock | None = FileLock(Path(data_dir) / OPEN_LOCK_FILE, timeout=OPEN_WAIT_S, is_singleton=True)
        lock.acquire()
    except Timeout:
        lock = None  # something holds it far longer than an open takes: open anyway rather than hang
        log.warning("waited %gs to open the store in %s; opening anyway", OPEN_WAIT_S, data_dir)
    except OSError:
        lock = None  # a read-only data dir: the open itself reports it
    try:
        yield
    finally:
        if lock is not None:
            lock.release()
