"""The embedder an index build runs its texts through: the query path's model, or the same model in bfloat16
where that measures faster on this machine.

Queries embed with ONNX Runtime in float32 (``index/onnx_embed.py``). A build embeds thousands of texts (every
chunk, then every sentence for the sentence table): on a CPU with bfloat16 matrix units (Intel AMX, AVX-512
BF16), OpenVINO runs the same ONNX export with its products in bfloat16 about three times as fast
(``index/openvino_embed.py``), and its vectors stay within cosine 0.9999 of float32's, the bar the export
itself is held to. So an index built in bfloat16 is read by float32 queries as if float32 had built it.

Whether that holds here is measured, never assumed. The first build with enough chunks to make it worth
asking times both on a sample of its own chunks and checks that every sample vector, and every
:data:`~index.onnx_embed.CHECK_SENTENCES` vector, agrees with the query path's (cosine >= ``MIN_COSINE``).
The verdict is kept in the ONNX cache folder under a key of the CPU, the library versions and the model, so
other machines, upgrades and other models measure again. A build then uses bfloat16 only when its chunks
would take longer through the query path than the twin takes to load (:meth:`Verdict.pays_for`).

``NEWSBOT_BUILD_PRECISION``: ``auto`` (the above), ``float32`` (the query path's model, always) or
``bfloat16`` (whenever its vectors pass the check, however fast).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from index.embed import CHUNK_BATCH, Embedder
from index.onnx_embed import CHECK_SENTENCES, MIN_COSINE, _read_json_quietly, _write_atomically
from index.openvino_embed import openvino_twin

log = logging.getLogger(__name__)

VERDICT_FILE = "build-precision.json"
PRECISIONS = ("auto", "float32", "bfloat16")
PROBE_MIN_CHUNKS = 256  # fewer chunks than this are not worth measuring (the sample alone is a fifth of them)
PROBE_TEXTS = 48  # chunks of the build, spread over its lengths, timed through both
SPEEDUP_MARGIN = 1.15  # bfloat16 must beat the query path by this much on the sample: timings on a shared box wobble

BulkFactory = Callable[[Embedder], Embedder]


@dataclass
class Verdict:
    """What the measurement found on this machine, and what a build should therefore use."""

    key: str
    choice: str  # "bfloat16" or "float32"
    reason: str  # for a person: the figures behind the choice
    float32_per_s: float = 0.0  # sample chunks per second through the query path's model
    bfloat16_per_s: float = 0.0  # ... through the bfloat16 twin
    load_s: float = 0.0  # seconds to load the twin (import OpenVINO, compile the graph)
    cosine: float = 0.0  # the lowest cosine between the two paths' vectors

    def pays_for(self, chunks: int) -> bool:
        """Does embedding ``chunks`` in bfloat16 save more time than loading the twin costs?

        Only chunks are counted; the sentences a build embeds after them save more still.
        """
        if self.choice != "bfloat16" or self.float32_per_s <= 0 or self.bfloat16_per_s <= 0:
            return False
        return chunks * (1 / self.float32_per_s - 1 / self.bfloat16_per_s) > self.load_s


class BuildEmbedder:
    """Chooses, per build, the embedder its texts go through (see the module docstring)."""

    def __init__(
        self,
        embedder: Embedder,
        cache_dir: Path | None,
        precision: str = "auto",
        notify: Callable[[str], None] | None = None,
        factory: BulkFactory | None = None,
        query_batch: int = CHUNK_BATCH,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"build precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        self.embedder = embedder
        self.cache_dir = cache_dir
        self.precision = precision
        self.notify = notify or log.info
        # The twin runs the query path's ONNX export; an embedder that serves none (a test's fake) has no twin.
        self.factory = factory or (openvino_twin if hasattr(embedder, "backend_embedder") else None)
        self.query_batch = query_batch  # texts per call through the query path's model in a build (index/sync.py)
        self._twin: Embedder | None = None

    def for_chunks(self, texts: Sequence[str]) -> Embedder:
        """The embedder for a build that embeds ``texts`` (its chunks, longest first) and then their sentences."""
        if self.precision == "float32" or not texts or self.factory is None:
            return self.embedder
        if self.precision == "bfloat16":
            verdict = self._measure(texts, timed=False)
            return self._guarded(self._twin) if verdict.choice == "bfloat16" and self._twin is not None else self.embedder
        key = self.key()
        verdict = self._saved(key)
        if verdict is None:
            if len(texts) < PROBE_MIN_CHUNKS:
                return self.embedder
            verdict = self._measure(texts, timed=True)
            if verdict.float32_per_s:  # measured; a twin that could not load is tried again next time
                self._save(verdict)
        if not verdict.pays_for(len(texts)):
            return self.embedder
        twin = self._load_twin()[0]  # (the one already loaded, if any)
        if twin is None:
            return self.embedder
        self.notify(f"Embedding {len(texts):,} chunks in bfloat16 ({verdict.reason}).")
        return self._guarded(twin)

    def _guarded(self, twin: Embedder) -> Embedder:
        return TwinOrQueryPath(twin, self.embedder, self.query_batch, self.notify)

    # -- the measurement ----------------------------------------------------------------------------------------
    def key(self) -> str:
        """What the verdict depends on: the CPU, the libraries that run the model, and the model."""
        parts = {
            "cpu": _cpu_identity(),
            "cpus": os.cpu_count(),
            "versions": {name: _version(name) for name in ("onnxruntime", "openvino")},
            "model": getattr(self.embedder, "name", ""),
            "path": str(getattr(self.embedder, "path", "")),
            "query_backend": type(self.embedder).__name__,
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]

    def _measure(self, texts: Sequence[str], timed: bool) -> Verdict:
        key = self.key()
        if timed:
            self.notify(f"Timing float32 against bfloat16 embedding on {PROBE_TEXTS} of the {len(texts):,} chunks (once on this machine)...")
        twin, load_s, error = self._load_twin()
        if twin is None:
            return Verdict(key, "float32", f"bfloat16 is unavailable here: {error}")
        sample = _spread(texts, PROBE_TEXTS)
        batch = getattr(twin, "batch_size", 32)
        reference_texts = [*sample, *CHECK_SENTENCES]
        try:
            twin.embed_documents(sample[:2], batch_size=batch)  # the first call compiles kernels: not timed
            t = time.perf_counter()
            fast = twin.embed_documents(sample, batch_size=batch)
            fast_s = time.perf_counter() - t
            checks = twin.embed_documents(list(CHECK_SENTENCES), batch_size=batch)
        except Exception as exc:  # an OpenVINO that cannot run this graph in bfloat16 fails in its own ways
            self._twin = None
            return Verdict(key, "float32", f"bfloat16 failed here: {' '.join(str(exc).split())[:200]}")
        self.embedder.embed_documents(sample[:2], batch_size=self.query_batch)  # the query path warmed the same way
        t = time.perf_counter()
        slow = self.embedder.embed_documents(sample, batch_size=self.query_batch)
        slow_s = time.perf_counter() - t
        reference = np.vstack([slow, self.embedder.embed_documents(list(CHECK_SENTENCES), batch_size=self.query_batch)])
        cosine = _lowest_cosine(np.vstack([fast, checks]), reference, len(reference_texts))
        verdict = Verdict(
            key, "float32", "", float32_per_s=len(sample) / max(slow_s, 1e-9), bfloat16_per_s=len(sample) / max(fast_s, 1e-9), load_s=load_s, cosine=cosine
        )
        ratio = verdict.bfloat16_per_s / verdict.float32_per_s
        figures = f"{verdict.bfloat16_per_s:.0f} against {verdict.float32_per_s:.0f} chunks/s, {ratio:.2f}x; vectors within cosine {cosine:.5f}"
        if not cosine >= MIN_COSINE:  # (NaN fails too)
            verdict.reason = f"bfloat16 vectors differ from float32's here (cosine {cosine:.5f} < {MIN_COSINE})"
            self.notify(f"warning: {verdict.reason}; building in float32")
        elif timed and ratio < SPEEDUP_MARGIN:
            verdict.reason = f"bfloat16 is not faster here ({figures})"
        else:
            verdict.choice, verdict.reason = "bfloat16", figures
        if verdict.choice != "bfloat16":
            self._twin = None  # let its memory go
        return verdict

    def _load_twin(self) -> tuple[Embedder | None, float, str]:
        """The bfloat16 embedder, loaded (OpenVINO imported, the graph compiled), and how long that took."""
        if self._twin is not None:
            return self._twin, 0.0, ""
        if self.factory is None:
            return None, 0.0, "no twin for this embedder"
        t = time.perf_counter()
        try:
            twin = self.factory(self.embedder)
            _ = twin.dim  # loads it
        except Exception as exc:  # no OpenVINO or no bfloat16 here, a graph it cannot compile: the query path embeds the build
            return None, 0.0, " ".join(str(exc).split())[:200]
        self._twin = twin
        return twin, time.perf_counter() - t, ""

    # -- the verdict file ---------------------------------------------------------------------------------------
    def _saved(self, key: str) -> Verdict | None:
        if self.cache_dir is None:
            return None
        entry = _read_json_quietly(self.cache_dir / VERDICT_FILE).get(key)
        try:
            return Verdict(**entry) if isinstance(entry, dict) else None
        except TypeError:  # written by another version of this file
            return None

    def _save(self, verdict: Verdict) -> None:
        if self.cache_dir is None:
            return
        path = self.cache_dir / VERDICT_FILE
        verdicts = _read_json_quietly(path)
        verdicts[verdict.key] = asdict(verdict)
        try:
            _write_atomically(path, json.dumps(verdicts, indent=1).encode())
        except OSError as exc:  # a read-only cache measures again next time, nothing worse
            log.debug("cannot save %s: %s", path, exc)


class TwinOrQueryPath:
    """The twin, until a call of it fails: then the query path's model embeds the rest of the build.

    A twin that passed its check can still fail later (memory, a shape its runtime rejects); the two give
    interchangeable vectors, so the build goes on with a warning rather than stopping half-written.
    """

    def __init__(self, twin: Embedder, embedder: Embedder, query_batch: int, notify: Callable[[str], None]) -> None:
        self.twin, self.embedder, self.query_batch, self.notify = twin, embedder, query_batch, notify
        self.failed = False
        self.used_twin = False
        self.name, self.dim, self.max_tokens = embedder.name, embedder.dim, embedder.max_tokens
        self.count_tokens = embedder.count_tokens

    @property
    def precision(self) -> str:
        """bfloat16, float32 (the twin failed at once) or mixed (it embedded some texts first)."""
        if not self.failed:
            return "bfloat16"
        return "mixed" if self.used_twin else "float32"

    @property
    def batch_size(self) -> int:
        return self.query_batch if self.failed else getattr(self.twin, "batch_size", self.query_batch)

    def embed_documents(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not self.failed:
            try:
                vectors = self.twin.embed_documents(texts, batch_size=batch_size)
                self.used_twin = True
                return vectors
            except Exception as exc:  # any failure of the runtime: the query path's model can do the work
                self.failed = True
                self.notify(f"warning: bfloat16 embedding failed ({' '.join(str(exc).split())[:200]}); embedding the rest in float32")
        return self.embedder.embed_documents(texts, batch_size=self.query_batch)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


def _spread(texts: Sequence[str], n: int) -> list[str]:
    """``n`` of ``texts`` taken at even steps, so a list sorted by length gives long, middling and short ones."""
    if len(texts) <= n:
        return list(texts)
    step = len(texts) / n
    return [texts[int(i * step)] for i in range(n)]


def _lowest_cosine(a: np.ndarray, b: np.ndarray, rows: int) -> float:
    if a.shape != b.shape or a.shape[0] != rows:
        return float("nan")
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    both_zero = (na == 0) & (nb == 0)  # "" pools to nothing on some models: the same nothing on both paths
    cos = np.sum(a * b, axis=1) / np.maximum(na * nb, 1e-12)
    return float(np.min(np.where(both_zero, 1.0, cos)))


def _cpu_identity() -> str:
    """The CPU's model name and the instruction-set flags that decide bfloat16 speed (AMX, AVX-512 BF16)."""
    name, flags = platform.processor(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name") and not name:
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = " ".join(sorted(f for f in line.split(":", 1)[1].split() if "amx" in f or "bf16" in f or "avx512" in f))
    except OSError:
        pass
    return f"{name} | {platform.machine()} | {flags}"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""
