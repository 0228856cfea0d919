"""Export a sentence-transformers model's transformer to ONNX, check it, and put it in the cache.

Runs once per model, in whichever process first needs the export (``index build``, or a first
``ask``), and is the only part of the ONNX path that imports torch, transformers and
sentence-transformers. The recipe: wrap the transformer in a module whose ``forward`` returns
``last_hidden_state`` and trace it with ``torch.onnx.export(dynamo=False, opset_version=17)`` with
dynamic batch and sequence axes (optimum, which does this for sentence-transformers, cannot be
installed beside transformers 5). Pooling and normalisation stay outside the graph
(``index.onnx_embed.pool``), read from the model folder's config.

The export is written to a temporary folder beside its final place, opened and checked there
against sentence-transformers' vectors, and only then renamed into place: two processes exporting
at once each write their own folder, and a reader never sees half an export.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from index.embed import SentenceTransformerEmbedder
from index.onnx_embed import (
    CHECK_SENTENCES,
    CHECKSUMMED,
    FORMAT,
    GRAPH,
    MANIFEST,
    OPSET,
    REFERENCE,
    TOKENIZER,
    WEIGHTS,
    ExportInvalid,
    OnnxModel,
    OnnxUnavailable,
    StConfig,
    check_sentences_digest,
    file_sha256,
)

log = logging.getLogger(__name__)

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
STALE_TMP_S = 3600  # a temporary folder this old was left by a process that died while exporting


def export_model(config: StConfig, target: Path, name: str) -> None:
    """Export the model in ``config.root`` to ``target``, checked; :class:`OnnxUnavailable` if it cannot be done here."""
    try:
        import onnx
        import torch
    except ImportError as exc:
        raise OnnxUnavailable(f"the {exc.name} package is not installed, so the model cannot be exported") from exc
    with staging(target) as tmp:
        try:
            st_model = SentenceTransformerEmbedder(config.root).model
            _check_config(st_model, config)
            transformer = st_model[0]
            tokenizer = transformer.tokenizer
            _use_eager_attention(transformer.auto_model)
            inputs = [n for n in tokenizer.model_input_names if n in MODEL_INPUTS]
            if "input_ids" not in inputs or "attention_mask" not in inputs:
                raise OnnxUnavailable(f"its tokenizer gives {tokenizer.model_input_names}, not input_ids and attention_mask")
            _save_tokenizer(tokenizer, tmp / TOKENIZER)
            reference = st_model.encode(
                list(CHECK_SENTENCES), batch_size=len(CHECK_SENTENCES), normalize_embeddings=True, show_progress_bar=False
            )
            padding = {
                "pad_id": int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0),
                "pad_token": str(tokenizer.pad_token or "[PAD]"),
                "pad_type_id": int(getattr(tokenizer, "pad_token_type_id", 0) or 0),
                "padding_side": str(tokenizer.padding_side),
                "truncation_side": str(tokenizer.truncation_side),
            }
            # The fused graph first; if onnxruntime's optimizer cannot fuse this architecture, or the fused
            # graph fails the check against sentence-transformers' vectors, the plain traced graph instead.
            for fuse in (True, False):
                fused = _trace(transformer.auto_model, tokenizer, inputs, tmp, torch, onnx, fuse=fuse)
                try:
                    install_export(
                        tmp,
                        target,
                        config,
                        name,
                        inputs,
                        padding,
                        reference,
                        check=lambda model: _check_tokens(model, tokenizer, config),
                        graph="fused" if fused else "plain",
                    )
                    break
                except OnnxUnavailable as exc:
                    if not fuse:
                        raise
                    log.info("the fused graph is not used (%s); exporting the plain one", exc)
        except OnnxUnavailable:
            raise
        except Exception as exc:  # torch's exporter raises many kinds; any of them means "no ONNX here"
            raise OnnxUnavailable(f"the export failed ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from exc


@contextlib.contextmanager
def staging(target: Path) -> Iterator[Path]:
    """A new temporary folder beside ``target`` (same file system, so it can be renamed into place), removed after."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def install_export(
    tmp: Path,
    target: Path,
    config: StConfig,
    name: str,
    inputs: list[str],
    padding: dict[str, Any],
    reference: np.ndarray,
    check: Callable[[OnnxModel], None] | None = None,
    graph: str = "plain",
) -> None:
    """Finish the export staged in ``tmp`` (graph and tokenizer written), check it, and move it to ``target``.

    ``reference`` holds sentence-transformers' vectors of CHECK_SENTENCES; the graph must give them
    (cosine >= MIN_COSINE on every one) or :class:`OnnxUnavailable` is raised and nothing is installed.
    ``graph`` says how it was made (``fused`` by onnxruntime's optimizer, or ``plain``), for the manifest.
    """
    started = time.perf_counter()
    np.save(tmp / REFERENCE, np.asarray(reference, dtype=np.float32))
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "name": name,
        "model_path": str(config.root),
        "inputs": inputs,
        "dim": config.dim,
        "pooling": list(config.pooling),
        "max_seq_length": config.max_seq_length,
        "prompt": config.prompt,
        "tokenizer": padding,
        "check_sentences": check_sentences_digest(),
        "graph": graph,
        "sha256": {f: file_sha256(tmp / f) for f in CHECKSUMMED},
        "versions": _versions(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    try:
        model = OnnxModel.open(tmp, config)
        manifest["min_cosine"] = model.check(np.load(tmp / REFERENCE))  # every sentence, the long one too
    except ExportInvalid as exc:
        raise OnnxUnavailable(f"the exported model is not equivalent: {exc}") from exc
    if check is not None:
        check(model)
    del model  # (its session maps the weights file; the folder is renamed, not copied, so that is fine)
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    _install(tmp, target, config)
    _prune(target, config)
    log.info("exported %s to %s (checked in %.1f s, cosine %.6f)", name, target, time.perf_counter() - started, manifest["min_cosine"])


def _check_config(st_model: Any, config: StConfig) -> None:
    """What the ONNX path read from the folder must be what sentence-transformers loaded."""
    kinds = [type(module).__name__ for module in st_model]
    if kinds[0] != "Transformer" or any(k not in ("Transformer", "Pooling", "Normalize") for k in kinds):
        raise OnnxUnavailable(f"sentence-transformers loads the modules {kinds}")
    if int(st_model.max_seq_length) != config.max_seq_length:
        raise OnnxUnavailable(f"sentence-transformers truncates at {st_model.max_seq_length}, the config says {config.max_seq_length}")
    if int(st_model.get_embedding_dimension()) != config.dim:
        raise OnnxUnavailable(f"sentence-transformers gives {st_model.get_embedding_dimension()} dimensions, the config {config.dim}")


def _use_eager_attention(hf_model: Any) -> None:
    """Trace attention as plain matrix products: transformers' SDPA path exports masking ops that onnxruntime
    does not fuse, and ran about 10% slower here (the vectors are the same; the check below compares them)."""
    try:
        hf_model.set_attn_implementation("eager")
    except (AttributeError, ValueError) as exc:  # an architecture without it keeps its default
        log.debug("keeping the default attention for the export: %s", exc)


def _trace(hf_model: Any, tokenizer: Any, inputs: list[str], folder: Path, torch: Any, onnx: Any, fuse: bool = True) -> bool:
    """The transformer as an ONNX graph in ``folder`` (weights in a side file, which onnxruntime maps rather than copies).

    With ``fuse``, onnxruntime's transformer optimizer rewrites it where it can (see :func:`_fused`);
    returns whether it did.
    """

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = hf_model

        def forward(self, *tensors):
            return self.model(**dict(zip(inputs, tensors, strict=True))).last_hidden_state

    sample = tokenizer(["a sentence", "another, longer sentence to trace"], padding=True, return_tensors="pt")
    axes = {n: {0: "batch", 1: "tokens"} for n in [*inputs, "last_hidden_state"]}
    traced = folder / "traced.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow: the check below is what counts
        torch.onnx.export(
            LastHiddenState().eval(),
            tuple(sample[n] for n in inputs),
            str(traced),
            input_names=inputs,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    fused = _fused(traced, hf_model.config) if fuse else None
    graph = fused if fused is not None else onnx.load(str(traced))
    for old in (folder / GRAPH, folder / WEIGHTS):  # a previous attempt's (save_model appends to an existing weights file)
        old.unlink(missing_ok=True)
    onnx.save_model(
        graph, str(folder / GRAPH), save_as_external_data=True, all_tensors_to_one_file=True, location=WEIGHTS, size_threshold=1024
    )
    traced.unlink()
    return fused is not None


def _fused(traced: Path, model_config: Any) -> Any:
    """The graph with onnxruntime's transformer fusions (attention, layer norms, GELU as single kernels), or None.

    Same arithmetic in fewer, larger kernels: on all-MiniLM-L6-v2 here, 13% more chunks per second on
    long chunks, the same on short sentences, and a session that opens in 45 ms instead of 60-80 ms; the
    vectors agree with the plain graph's to a cosine of 0.9999999. The optimizer matches BERT-shaped
    subgraphs; on another architecture it fuses less or nothing, and the export's check decides whether
    the result is used.
    """
    try:
        from onnxruntime.transformers import optimizer

        heads = int(getattr(model_config, "num_attention_heads", 0) or 0)
        width = int(getattr(model_config, "hidden_size", 0) or 0)
        with warnings.catch_warnings(), _quiet_loggers_of(Path(optimizer.__file__).parent):
            warnings.simplefilter("ignore")
            return optimizer.optimize_model(str(traced), model_type="bert", num_heads=heads, hidden_size=width).model
    except Exception as exc:  # its pattern matching raises many kinds on graphs it does not know
        log.info("onnxruntime's optimizer cannot fuse this graph (%s: %s)", type(exc).__name__, exc)
        return None


@contextlib.contextmanager
def _quiet_loggers_of(package_dir: Path) -> Iterator[None]:
    """Silence the loggers of the modules in ``package_dir``: the optimizer logs each fusion it makes or
    misses (under its modules' bare names, such as ``fusion_attention``), which is not for users."""
    names = [
        name
        for name, module in list(sys.modules.items())
        if getattr(module, "__file__", None) and Path(module.__file__).parent == package_dir
    ]
    saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in names]
    for logger, _ in saved:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def _save_tokenizer(tokenizer: Any, path: Path) -> None:
    """The Rust tokenizer sentence-transformers uses (its lower-casing included), without padding or truncation."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise OnnxUnavailable("its tokenizer has no fast (tokenizers) version")
    from tokenizers import Tokenizer

    copy = Tokenizer.from_str(backend.to_str())
    copy.no_padding()
    copy.no_truncation()
    copy.save(str(path))


def _check_tokens(model: OnnxModel, tokenizer: Any, config: StConfig) -> None:
    """The export's tokenizer must give sentence-transformers' word pieces, truncation included."""
    texts = [config.prompt + t for t in CHECK_SENTENCES]
    theirs = tokenizer(texts, padding=True, truncation="longest_first", max_length=config.max_seq_length)["input_ids"]
    ours = model.token_ids(texts)
    if [list(map(int, row)) for row in theirs] != ours:
        raise OnnxUnavailable("its tokenizer, loaded without transformers, splits the check sentences differently")


def _install(tmp: Path, target: Path, config: StConfig) -> None:
    """Rename the checked export into place; a good one another process put there first is kept."""
    if target.exists():
        if _usable(target, config):
            return  # another process finished the same export first
        aside = target.with_name(f".old-{target.name}-{os.getpid()}")
        with contextlib.suppress(OSError):  # (another process moved it first)
            target.rename(aside)  # a damaged one: out of the way in one step, then deleted
        shutil.rmtree(aside, ignore_errors=True)
    try:
        tmp.rename(target)
    except OSError:
        if not _usable(target, config):
            raise


def _usable(folder: Path, config: StConfig) -> bool:
    """The export in ``folder`` passes the checks every process makes before using one."""
    try:
        OnnxModel.open(folder, config)
    except (ExportInvalid, OSError):
        return False
    return True


def _prune(target: Path, config: StConfig) -> None:
    """Delete older exports of the same model folder, and temporary folders of exporters that died."""
    now = time.time()
    for folder in target.parent.iterdir():
        if folder == target or not folder.is_dir():
            continue
        if folder.name.startswith((".tmp-", ".old-")):
            with contextlib.suppress(OSError):
                if now - folder.stat().st_mtime > STALE_TMP_S:
                    shutil.rmtree(folder, ignore_errors=True)
            continue
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if manifest.get("model_path") == str(config.root):
            shutil.rmtree(folder, ignore_errors=True)


def _versions() -> dict[str, str]:
    """The library versions that made the export (for a bug report; the checks decide whether it is used)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime", "tokenizers"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out
