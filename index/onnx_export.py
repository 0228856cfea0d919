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
            _trace(transformer.auto_model, tokenizer, inputs, tmp, torch, onnx)
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
            install_export(
                tmp, target, config, name, inputs, padding, reference, check=lambda model: _check_tokens(model, tokenizer, config)
            )
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
) -> None:
    """Finish the export staged in ``tmp`` (graph and tokenizer written), check it, and move it to ``target``.

    ``reference`` holds sentence-transformers' vectors of CHECK_SENTENCES; the graph must give them
    (cosine >= MIN_COSINE on every one) or :class:`OnnxUnavailable` is raised and nothing is installed.
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


def _trace(hf_model: Any, tokenizer: Any, inputs: list[str], folder: Path, torch: Any, onnx: Any) -> None:
    """The transformer as an ONNX graph in ``folder`` (weights in a side file, which onnxruntime maps rather than copies)."""

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
    graph = onnx.load(str(traced))
    onnx.save_model(
        graph, str(folder / GRAPH), save_as_external_data=True, all_tensors_to_one_file=True, location=WEIGHTS, size_threshold=1024
    )
    traced.unlink()


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
