"""The embedding model served by ONNX Runtime: sentence-transformers' vectors without importing torch.

A cold ``newsbot ask`` used to spend nearly all its time importing torch, transformers and
sentence-transformers to embed one question. Here the model's transformer runs as an ONNX graph in
onnxruntime, tokenized by the ``tokenizers`` library (both come with chromadb), and the pooling and
normalisation that follow it are read from the model folder's sentence-transformers config
(``modules.json``, ``1_Pooling/config.json``, ``sentence_bert_config.json``) and done in numpy.

The graph is exported once per model (``index/onnx_export.py``, which needs torch: at ``index build``
or on first use) and cached under ``NEWSBOT_DATA_DIR/onnx/``::

    onnx/<model name>-<key>/manifest.json    how to tokenize and pool, checksums, versions that made it
                            model.onnx       the graph; its weights in model.onnx.data (memory-mapped by
                            model.onnx.data  onnxruntime: 0.1 s to open instead of 0.4 s, 80 MB less memory)
                            tokenizer.json   the tokenizer exactly as sentence-transformers set it up
                            reference.npy    sentence-transformers' vectors of CHECK_SENTENCES
    onnx/fingerprints.json  model file sizes and times -> content hash, so a start need not hash the weights

``<key>`` is a hash of the model folder's weights and config files and of the export settings: a changed
model gets a new export. Before a process uses an export it checks the files' checksums and that the
graph still gives the reference vectors (cosine >= 0.9999); a missing, stale or damaged export is made
again, and a model that cannot be exported here falls back to sentence-transformers with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from index.embed import EncodedText, ModelNotFoundError, SentenceTransformerEmbedder, encode_in_context, resolve_model

log = logging.getLogger(__name__)

FORMAT = "2"  # bump when the export's files or the way they are made change: older exports are then rebuilt
OPSET = 17
MIN_COSINE = 0.9999  # ONNX vs sentence-transformers on CHECK_SENTENCES: below this the export is not used
MANIFEST = "manifest.json"
GRAPH = "model.onnx"
WEIGHTS = "model.onnx.data"
TOKENIZER = "tokenizer.json"
REFERENCE = "reference.npy"
FINGERPRINTS = "fingerprints.json"
CHECKSUMMED = (GRAPH, WEIGHTS, TOKENIZER, REFERENCE)

# The sentences every export is checked on: a question, news text with figures, non-breaking spaces and
# accents, other scripts, a single word, nothing, and a text longer than the model reads (truncation).
CHECK_SENTENCES: tuple[str, ...] = (
    "How much tungsten will the Severnyi Katpar joint venture produce per year?",
    "Kazakhstan\u00a0and the U.S. signed a $1.1 billion deal on 6 November 2025 — 12,000 mt/year of WO3 (ammonium paratungstate).",
    "Uzbekistan's state miner Navoiyuran, São Paulo, Zürich and Ñuñoa: café résumé naïve.",
    "Северный Катпар — вольфрамовое месторождение; 北京 签署 协议",
    "antimony",
    "",
    " ".join(
        f"Paragraph {i}: the critical-minerals agreements signed at the C5+1 summit cover tungsten, "
        f"antimony, rare earths and uranium, with financing from the Ex-Im Bank and the DFC."
        for i in range(30)
    ),
)

# Each process checks the first of them before its first vector (the export checked them all): the files'
# checksums already prove they are the bytes that were checked, and a sentence costs 5-10 ms, a long one 0.1 s.
LOAD_CHECKS = 1

_MODULE_KINDS = ("Transformer", "Pooling", "Normalize")
_LEGACY_POOLING = (  # sentence-transformers' legacy flags, in the order it concatenates them
    ("pooling_mode_cls_token", "cls"),
    ("pooling_mode_max_tokens", "max"),
    ("pooling_mode_mean_tokens", "mean"),
    ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"),
    ("pooling_mode_weightedmean_tokens", "weightedmean"),
    ("pooling_mode_lasttoken", "lasttoken"),
)
POOLING_MODES = tuple(mode for _, mode in _LEGACY_POOLING)
_SANE_MAX_LENGTH = 1_000_000  # tokenizers without a limit say model_max_length = 1e30


class OnnxUnavailable(RuntimeError):
    """The ONNX path cannot serve this model here (unsupported config, no ``onnx`` package, a failed export)."""


class UnsupportedModel(OnnxUnavailable):
    """The model folder holds a module or setting the ONNX path does not reproduce."""


class ExportInvalid(RuntimeError):
    """A cached export is missing, stale or damaged: it must be made again."""


# -- the model folder's sentence-transformers config -----------------------------------------------
@dataclass(frozen=True)
class StConfig:
    """What sentence-transformers does around the transformer, read from the model folder's JSON files."""

    root: Path
    transformer_dir: Path
    module_dirs: tuple[Path, ...]  # every folder whose files make up the model (the fingerprint reads them)
    pooling: tuple[str, ...]  # one or more of POOLING_MODES, concatenated in this order
    include_prompt: bool
    dim: int  # of the pooled vector
    max_seq_length: int  # word pieces the transformer reads, special tokens included; longer texts are cut
    prompt: str  # prepended to every text (the config's default prompt), usually ""


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UnsupportedModel(f"cannot read {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def read_st_config(root: Path) -> StConfig:
    """The model folder's pipeline: a Transformer, then Pooling, then (optionally) Normalize.

    A folder without ``modules.json`` is a plain transformer, which sentence-transformers pools by the
    mean. Any other module (Dense, a router, ...) raises :class:`UnsupportedModel`.
    """
    modules_file = root / "modules.json"
    if modules_file.exists():
        try:
            modules = json.loads(modules_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UnsupportedModel(f"cannot read {modules_file}: {exc}") from exc
    else:
        modules = [{"path": "", "type": "Transformer"}]
    kinds: list[str] = []
    dirs: dict[str, Path] = {}
    for module in sorted(modules, key=lambda m: int(m.get("idx", 0))):
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        if kind not in _MODULE_KINDS:
            raise UnsupportedModel(f"its module {module.get('type')!r} is not one the ONNX path reproduces")
        if kind in dirs:
            raise UnsupportedModel(f"it has more than one {kind} module")
        kinds.append(kind)
        dirs[kind] = root / str(module.get("path", ""))
    if not kinds or kinds[0] != "Transformer" or kinds[1:] not in ([], ["Pooling"], ["Pooling", "Normalize"], ["Normalize"]):
        raise UnsupportedModel(f"its modules {kinds} are not Transformer, Pooling, Normalize")
    transformer_dir = dirs["Transformer"]
    model_config = _read_json(transformer_dir / "config.json")
    if "Pooling" in dirs:
        pooling_config = _read_json(dirs["Pooling"] / "config.json")
        pooling = _pooling_modes(pooling_config)
        width = pooling_config.get("embedding_dimension", pooling_config.get("word_embedding_dimension"))
        include_prompt = bool(pooling_config.get("include_prompt", True))
    else:
        pooling, width, include_prompt = ("mean",), None, True
    width = width or model_config.get("hidden_size")
    if not isinstance(width, int):
        raise UnsupportedModel("its embedding dimension is not in 1_Pooling/config.json or config.json")
    prompts = _read_json(root / "config_sentence_transformers.json")
    prompt = str((prompts.get("prompts") or {}).get(prompts.get("default_prompt_name") or "", "") or "")
    if prompt and not include_prompt:
        raise UnsupportedModel("it pools without its default prompt, which the ONNX path does not reproduce")
    return StConfig(
        root=root,
        transformer_dir=transformer_dir,
        module_dirs=tuple(d for d in dict.fromkeys([root, *dirs.values()]) if d.is_dir()),  # Normalize has no folder
        pooling=pooling,
        include_prompt=include_prompt,
        dim=width * len(pooling),
        max_seq_length=_max_seq_length(transformer_dir, model_config),
        prompt=prompt,
    )


def _pooling_modes(config: dict[str, Any]) -> tuple[str, ...]:
    mode = config.get("pooling_mode")
    if mode is None:
        modes = tuple(name for key, name in _LEGACY_POOLING if config.get(key)) or ("mean",)
    else:
        modes = (mode,) if isinstance(mode, str) else tuple(mode)
    unknown = [m for m in modes if m not in POOLING_MODES]
    if unknown:
        raise UnsupportedModel(f"its pooling mode {unknown[0]!r} is unknown")
    return modes


def _max_seq_length(transformer_dir: Path, model_config: dict[str, Any]) -> int:
    """As sentence-transformers decides it: ``sentence_bert_config.json``, else the tokenizer's and the model's limit."""
    configured = _read_json(transformer_dir / "sentence_bert_config.json").get("max_seq_length")
    if isinstance(configured, int) and configured > 0:
        return configured
    limits = [
        value
        for value in (
            _read_json(transformer_dir / "tokenizer_config.json").get("model_max_length"),
            model_config.get("max_position_embeddings"),
        )
        if isinstance(value, (int, float)) and 0 < value < _SANE_MAX_LENGTH
    ]
    if not limits:
        raise UnsupportedModel("it sets no maximum sequence length")
    return int(min(limits))


# -- pooling ------------------------------------------------------------------------------------------
def pool(hidden: np.ndarray, mask: np.ndarray, modes: Sequence[str]) -> np.ndarray:
    """Sentence vectors from token vectors, as sentence-transformers' ``Pooling`` computes them on padded input.

    ``hidden`` is (batch, tokens, width), ``mask`` (batch, tokens) with 1 on real tokens. Several modes are
    concatenated in the given order. Mirrors ``Pooling._forward_padded`` of sentence-transformers 6.
    """
    hidden = hidden.astype(np.float32, copy=False)
    batch, length, _ = hidden.shape
    mask = mask.astype(np.int64, copy=False)
    weights = mask[..., None].astype(np.float32)
    rows = np.arange(batch)
    out: list[np.ndarray] = []
    for mode in modes:
        if mode == "cls":  # the first real token (left padding moves it)
            out.append(hidden[rows, mask.argmax(axis=1)])
        elif mode == "max":
            out.append(np.where(weights > 0, hidden, -np.inf).max(axis=1))
        elif mode in ("mean", "mean_sqrt_len_tokens"):
            total = (hidden * weights).sum(axis=1)
            count = np.clip(weights.sum(axis=1), 1e-9, None)
            out.append(total / (count if mode == "mean" else np.sqrt(count)))
        elif mode == "weightedmean":  # position weights 1, 2, ... counted from the first real token
            positions = np.arange(1, length + 1, dtype=np.float32)[None, :, None] - mask.argmax(axis=1)[:, None, None]
            weighted = weights * positions
            out.append((hidden * weighted).sum(axis=1) / np.clip(weighted.sum(axis=1), 1e-9, None))
        elif mode == "lasttoken":
            flipped = mask[:, ::-1]
            last = np.where(flipped.max(axis=1) == 0, length - 1, flipped.argmax(axis=1))
            out.append((hidden * weights)[rows, length - last - 1])
        else:
            raise ValueError(f"unknown pooling mode {mode!r}")
    return np.concatenate(out, axis=-1)


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (as torch's ``F.normalize``: zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


# -- the cache key ------------------------------------------------------------------------------------
def model_files(config: StConfig) -> list[Path]:
    """The files that make up the model: weights, configs, tokenizer (not READMEs, not sub-folders such as onnx/)."""
    files: set[Path] = set()
    for folder in config.module_dirs:
        try:
            entries = list(folder.iterdir())
        except OSError as exc:
            raise ModelNotFoundError(f"cannot read the model folder {folder}: {exc}") from exc
        files.update(p for p in entries if p.is_file() and not p.name.startswith(".") and p.suffix.lower() != ".md")
    return sorted(files)


def file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def model_fingerprint(config: StConfig, memo_path: Path | None = None) -> str:
    """A hash of the model's files' contents (weights included).

    Hashing the weights costs a tenth of a second or more, so the result is remembered in ``memo_path``
    against each file's size, modification time and inode: a start that finds them unchanged reads it back.
    """
    files = model_files(config)
    stats = {str(p): _stat(p) for p in files}
    root = str(config.root.resolve())
    memo = _read_json_quietly(memo_path) if memo_path else {}
    entry = memo.get(root)
    if isinstance(entry, dict) and entry.get("stats") == stats and isinstance(entry.get("sha256"), str):
        return entry["sha256"]
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(config.root)}\0{file_sha256(path)}\n".encode())
    fingerprint = digest.hexdigest()
    if memo_path is not None:
        memo[root] = {"stats": stats, "sha256": fingerprint}
        try:
            _write_atomically(memo_path, json.dumps(memo, indent=1).encode())
        except OSError as exc:  # a read-only data dir costs the hash on every start, nothing else
            log.debug("cannot save %s: %s", memo_path, exc)
    return fingerprint


def check_sentences_digest() -> str:
    """Identifies CHECK_SENTENCES: reference vectors of other sentences are of no use."""
    return hashlib.sha256(json.dumps(CHECK_SENTENCES).encode()).hexdigest()[:16]


def _stat(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def export_key(fingerprint: str) -> str:
    """The cache key of an export: the model's contents and every setting of the export."""
    settings = {"format": FORMAT, "opset": OPSET, "model": fingerprint}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def export_dir(cache_dir: Path, name: str, key: str) -> Path:
    return cache_dir / f"{_safe(name)}-{key}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60] or "model"


def _read_json_quietly(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it over: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- a loaded export --------------------------------------------------------------------------------------
class OnnxModel:
    """An export opened for use: an onnxruntime session, its tokenizer, and the pooling to apply."""

    def __init__(self, folder: Path, manifest: dict[str, Any], session: Any, tokenizer: Any) -> None:
        self.folder = folder
        self.manifest = manifest
        self._session = session
        self._tokenizer = tokenizer  # pads and truncates like sentence-transformers
        self._inputs = [i.name for i in session.get_inputs()]
        self.pooling: tuple[str, ...] = tuple(manifest["pooling"])
        self.prompt: str = manifest.get("prompt", "")

    @classmethod
    def open(cls, folder: Path, config: StConfig) -> OnnxModel:
        """Open the export in ``folder`` and check it: :class:`ExportInvalid` if it is missing, stale or damaged."""
        manifest = read_manifest(folder)
        expected = {
            "pooling": list(config.pooling),
            "max_seq_length": config.max_seq_length,
            "prompt": config.prompt,
            "check_sentences": check_sentences_digest(),
        }
        for field_name, value in expected.items():
            if manifest.get(field_name) != value:
                raise ExportInvalid(f"it was made for {field_name} {manifest.get(field_name)!r}, the model now says {value!r}")
        # The checksums (0.05 s for 90 MB) run beside the session's creation: both release the GIL.
        mismatch: list[str] = []
        checking = threading.Thread(target=lambda: mismatch.extend(_checksum_errors(folder, manifest)), daemon=True)
        checking.start()
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            options = ort.SessionOptions()
            options.log_severity_level = 3  # errors only: its warnings are about graph details, not for users
            # Idle worker threads sleep instead of spinning: on a machine shared with other work, spinning
            # threads took CPU from everything else and made small batches up to twice as slow here.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(str(folder / GRAPH), options, providers=["CPUExecutionProvider"])
            tokenizer = Tokenizer.from_file(str(folder / TOKENIZER))
        except Exception as exc:  # onnxruntime raises its own exception types for a bad graph
            checking.join()
            raise ExportInvalid(mismatch[0] if mismatch else f"onnxruntime cannot load it ({' '.join(str(exc).split())[:200]})") from exc
        checking.join()
        if mismatch:
            raise ExportInvalid(mismatch[0])
        tok = manifest["tokenizer"]
        tokenizer.enable_truncation(config.max_seq_length, strategy="longest_first", direction=tok["truncation_side"])
        tokenizer.enable_padding(
            direction=tok["padding_side"], pad_id=tok["pad_id"], pad_type_id=tok["pad_type_id"], pad_token=tok["pad_token"]
        )
        model = cls(folder, manifest, session, tokenizer)
        model.check(np.load(folder / REFERENCE), LOAD_CHECKS)
        return model

    def check(self, reference: np.ndarray, count: int = len(CHECK_SENTENCES)) -> float:
        """The lowest cosine between this model's vectors of the first ``count`` CHECK_SENTENCES and ``reference``.

        Raises :class:`ExportInvalid` below MIN_COSINE.
        """
        got = self.embed(CHECK_SENTENCES[:count])
        reference = reference[:count]
        if reference.shape != got.shape:
            raise ExportInvalid(f"its vectors have the shape {got.shape}, the reference {reference.shape}")
        cosine = float(np.min(np.sum(got * normalize(reference), axis=1)))
        if not cosine >= MIN_COSINE:  # (NaN fails too)
            raise ExportInvalid(f"its vectors differ from sentence-transformers' (cosine {cosine:.6f} < {MIN_COSINE})")
        return cosine

    def count_tokens(self, text: str) -> int:
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    @cached_property
    def _counter(self) -> Any:
        """The tokenizer without special tokens, padding or truncation (loaded when first needed: 40 ms)."""
        from tokenizers import Tokenizer

        counter = Tokenizer.from_file(str(self.folder / TOKENIZER))
        counter.no_padding()
        counter.no_truncation()
        return counter

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """The word pieces the model reads for each text, padded to the longest (what :meth:`embed` feeds it)."""
        return [list(e.ids) for e in self._tokenizer.encode_batch(list(texts))]

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit-length vectors, one row per text; texts of similar length are batched together (less padding)."""
        out = np.zeros((len(texts), self.manifest["dim"]), dtype=np.float32)
        for rows, batch in self.batches(texts, batch_size):
            out[rows] = self._embed_batch(batch)
        return out

    def batches(self, texts: Sequence[str], batch_size: int) -> Iterator[tuple[np.ndarray, list[str]]]:
        """(rows, texts) in batches of about the same length, longest first, the model's prompt put before each."""
        texts = [self.prompt + t for t in texts] if self.prompt else list(texts)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), max(1, batch_size)):
            rows = order[start : start + batch_size]
            yield rows, [texts[i] for i in rows]

    def model_inputs(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The graph's inputs for a batch: word piece ids, attention mask and token types, padded to the longest."""
        return self._arrays(self._tokenizer.encode_batch(list(texts)))

    @staticmethod
    def _arrays(encodings: Sequence[Any]) -> dict[str, np.ndarray]:
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }

    def vectors(self, hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """The graph's output for a batch made into unit-length text vectors, pooled as the model folder says."""
        return normalize(pool(hidden, attention_mask, self.pooling))

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        arrays = self.model_inputs(texts)
        return self.vectors(self._hidden(arrays), arrays["attention_mask"])

    def _hidden(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """The graph's output (last hidden states) for a batch's inputs."""
        return self._session.run(None, {name: arrays[name] for name in self._inputs})[0]

    def embed_in_context(self, text: str) -> EncodedText:
        """``text``'s vector (as :meth:`embed` gives it) and its word pieces' vectors from the same run."""
        encoding = self._tokenizer.encode(self.prompt + text)
        arrays = self._arrays([encoding])
        hidden = self._hidden(arrays)
        shift = len(self.prompt)
        # Special tokens cover no text ((0, 0)); the prompt's pieces fall before the text and are dropped.
        rows = [i for i, (a, b) in enumerate(encoding.offsets) if b > a and a >= shift]
        return EncodedText(
            text,
            self.vectors(hidden, arrays["attention_mask"])[0],
            normalize(hidden[0, rows].astype(np.float32)),
            tuple((encoding.offsets[i][0] - shift, encoding.offsets[i][1] - shift) for i in rows),
        )


def _checksum_errors(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """What is wrong with the export's files: unreadable, or not the bytes the manifest recorded."""
    for name in CHECKSUMMED:
        try:
            digest = file_sha256(folder / name)
        except OSError as exc:
            return [f"{name} cannot be read ({exc.strerror or exc})"]
        if digest != manifest["sha256"].get(name):
            return [f"{name} does not match its checksum"]
    return []


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.exists():
        raise ExportInvalid("there is none")
    manifest = _read_json_quietly(path)
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("sha256"), dict):
        raise ExportInvalid("its manifest is unreadable or from another version")
    return manifest


# -- the embedder -------------------------------------------------------------------------------------------
Exporter = Callable[[StConfig, Path, str], None]


class OnnxEmbedder:
    """The sentence-transformers model served by ONNX Runtime; implements :class:`index.embed.Embedder`.

    Nothing is loaded until a text is embedded or counted. Then the cached export is opened and checked,
    or made first (``index/onnx_export.py``, with a one-line notice), and if the ONNX path cannot serve
    this model here (no ``onnx`` package, an export that fails or gives other vectors), the embedder falls
    back to :class:`SentenceTransformerEmbedder` with a one-line warning: slower to start, same vectors.
    ``name`` is the sentence-transformers embedder's, because the vectors are interchangeable: an index
    built by one is read by the other.
    """

    def __init__(
        self,
        model_path: Path | str | None = None,
        cache_dir: Path | None = None,
        notify: Callable[[str], None] | None = None,
        exporter: Exporter | None = None,
    ) -> None:
        self.path, self.name = resolve_model(model_path)
        self.cache_dir = Path(cache_dir) if cache_dir else Path(tempfile.gettempdir()) / "newsbot-onnx"
        self._notify = notify or (lambda msg: print(msg, file=sys.stderr))
        self._exporter = exporter
        self._lock = threading.Lock()
        self._backend: OnnxModel | SentenceTransformerEmbedder | None = None
        self._config: StConfig | None = None

    # -- what the index asks without a model ---------------------------------------------------
    @property
    def config(self) -> StConfig:
        if self._config is None:
            self._config = read_st_config(self.path)
        return self._config

    @property
    def dim(self) -> int:
        try:
            return self.config.dim
        except UnsupportedModel:
            return self.backend_embedder.dim

    @property
    def max_tokens(self) -> int:
        try:
            return self.config.max_seq_length
        except UnsupportedModel:
            return self.backend_embedder.max_tokens

    # -- embedding ------------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        return self.backend_embedder.count_tokens(text)

    def embed_documents(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        backend = self.backend_embedder
        if isinstance(backend, OnnxModel):
            return backend.embed(texts, batch_size)
        return backend.embed_documents(texts, batch_size)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def embed_in_context(self, text: str) -> EncodedText:
        """The query's vector and its word pieces' vectors (see :class:`index.embed.EncodedText`)."""
        backend = self.backend_embedder
        if isinstance(backend, OnnxModel):
            return backend.embed_in_context(text)
        return encode_in_context(backend, text)

    @property
    def backend(self) -> str:
        """``onnx`` or ``sentence-transformers`` (after a fallback); loads the model."""
        return "onnx" if isinstance(self.backend_embedder, OnnxModel) else "sentence-transformers"

    @property
    def backend_embedder(self) -> OnnxModel | SentenceTransformerEmbedder:
        """The loaded ONNX model, or the sentence-transformers fallback; made on first use (thread-safe)."""
        backend = self._backend
        if backend is None:
            with self._lock:
                if self._backend is None:
                    self._backend = self._load()
                backend = self._backend
        return backend

    def prepare(self) -> None:
        """Make the export now if there is none for this model (``index build`` calls this, so a cold ask need not).

        Cheap when one exists: it is not opened here, only found (every process checks it when it opens it).
        """
        try:
            folder = self._export_dir()
        except (UnsupportedModel, OSError):
            return
        try:
            read_manifest(folder)
        except ExportInvalid:
            self.backend_embedder  # noqa: B018 - makes it (or falls back, with the warning)

    # -- internals --------------------------------------------------------------------------------------
    def _export_dir(self) -> Path:
        key = export_key(model_fingerprint(self.config, self.cache_dir / FINGERPRINTS))
        return export_dir(self.cache_dir, self.name, key)

    def _load(self) -> OnnxModel | SentenceTransformerEmbedder:
        try:
            folder = self._export_dir()
        except OnnxUnavailable as exc:
            return self._fall_back(str(exc))
        try:
            return OnnxModel.open(folder, self.config)
        except ExportInvalid as exc:
            if folder.exists():
                self._notify(f"The ONNX export of {self.name} in {folder} is unusable ({exc}); making it again...")
            else:
                self._notify(f"Exporting {self.name} to ONNX for fast starts (once; about 10 s)...")
        try:
            self._export(folder)
            return OnnxModel.open(folder, self.config)
        except (OnnxUnavailable, ExportInvalid, OSError) as exc:
            return self._fall_back(str(exc))

    def _export(self, folder: Path) -> None:
        exporter = self._exporter
        if exporter is None:
            from index.onnx_export import export_model as exporter
        exporter(self.config, folder, self.name)

    def _fall_back(self, reason: str) -> SentenceTransformerEmbedder:
        self._notify(
            f"warning: cannot serve {self.name} with ONNX Runtime ({' '.join(reason.split())}); "
            "using sentence-transformers (same vectors, slower start)"
        )
        return SentenceTransformerEmbedder(self.path)
