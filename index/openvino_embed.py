"""The query path's own ONNX export run by OpenVINO with its matrix products in bfloat16: an index build's twin.

A build embeds thousands of texts (every chunk, then every sentence of the sentence table). On a CPU with
bfloat16 matrix units (Intel AMX, AVX-512 BF16), OpenVINO runs all-MiniLM-L6-v2 about three times as fast as
ONNX Runtime in float32 (here: 233 against 72 chunks/s, 1,100 against 230 sentences/s), and its vectors stay
within cosine 0.99997 of float32's, inside the 0.9999 the export itself is held to; so an index it builds is
read by float32 queries as if float32 had built it. It reads the very files the query path checked (graph,
tokenizer, pooling), so the two cannot drift apart, and it loads in 0.3 s (torch, which the build used
before, took 2-3 s). Whether it pays and agrees on this machine is measured by ``index/build_embed.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from index.embed import Embedder
from index.onnx_embed import GRAPH, OnnxModel


class TwinUnavailable(RuntimeError):
    """No bfloat16 twin here: the query path is not on the ONNX export, or OpenVINO has no bfloat16 on this CPU."""


class OpenVinoTwin:
    """Implements :class:`index.embed.Embedder` for a build; counts tokens and names the model as the query path does."""

    precision = "bfloat16"
    # Texts per inference request. Two requests run at once, one per core (OpenVINO's throughput mode), so a
    # batch is a core's work; 16 did as well as 32 or 64 here (232-239 chunks/s, 1,118-1,152 sentences/s).
    batch_size = 16

    def __init__(self, model: OnnxModel, embedder: Embedder) -> None:
        import openvino as ov

        core = ov.Core()
        if "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            raise TwinUnavailable("OpenVINO has no bfloat16 kernels for this CPU")
        compiled = core.compile_model(
            str(model.folder / GRAPH), "CPU", {"INFERENCE_PRECISION_HINT": "bf16", "PERFORMANCE_HINT": "THROUGHPUT"}
        )
        self._inputs = [port.get_any_name() for port in compiled.inputs]
        self._requests = ov.AsyncInferQueue(compiled)  # as many requests as OpenVINO runs at once here
        self._lock = threading.Lock()  # one call at a time uses the queue
        self.model = model
        self.name = embedder.name
        self.dim = embedder.dim
        self.max_tokens = embedder.max_tokens
        self.count_tokens = embedder.count_tokens

    def embed_documents(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        errors: list[BaseException] = []

        def finished(request: Any, job: tuple[np.ndarray, np.ndarray]) -> None:
            # Runs on OpenVINO's thread while the next batches are computed; an exception here would be lost.
            rows, mask = job
            try:
                hidden = request.get_output_tensor(0).data
                out[rows] = self.model.vectors(hidden, mask)
            except Exception as exc:  # raised again below, on the caller's thread
                errors.append(exc)

        with self._lock:
            self._requests.set_callback(finished)
            for rows, batch in self.model.batches(texts, batch_size):
                arrays = self.model.model_inputs(batch)
                self._requests.start_async({name: arrays[name] for name in self._inputs}, (rows, arrays["attention_mask"]))
            self._requests.wait_all()
        if errors:
            raise errors[0]
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


def openvino_twin(embedder: Embedder) -> OpenVinoTwin:
    """The bfloat16 twin of ``embedder``'s ONNX export (:class:`TwinUnavailable` if it serves none)."""
    model = getattr(embedder, "backend_embedder", None)
    if not isinstance(model, OnnxModel):
        raise TwinUnavailable("the query path is not running the ONNX export (it fell back to sentence-transformers)")
    return OpenVinoTwin(model, embedder)
