"""Query embeddings through ONNX Runtime: the local model's forward pass, exported once.

A query is a short sentence, so a model call is mostly fixed cost: torch's dispatch, autograd
bookkeeping and thread hand-offs around six small matrix products. The same network exported to
ONNX and run by ONNX Runtime (already installed: faster-whisper's voice detection uses it) on one
thread gives the same vectors (cosine 1.000000 to sentence-transformers) for a fraction of the CPU.
Documents stay on torch: on long batches both run at the same rate.

The export is made from the installed model, once, into ``ROUTEUR_EMBEDDINGS_ONNX_DIR``
(``<data_dir>/models/onnx`` by default) as ``all-MiniLM-L6-v2-<digest>.onnx``, the digest covering
the weights and the exporter's versions: written under a temporary name, synced, then renamed, so
a crash mid-export leaves no half file to load. Tokenisation is the model's own ``tokenizer.json`` with the window
sentence-transformers uses (256 word pieces), and pooling is its mean over real tokens.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

OPSET = 17
MAX_WORD_PIECES = 256


def _digest(model_dir: Path) -> str:
    """Of the weights and the exporter's versions, read from the installed distributions: asking
    ``torch.__version__`` would import torch, which the query path does not need once exported."""
    h = hashlib.sha256()
    with open(model_dir / "model.safetensors", "rb") as weights:
        for block in iter(lambda: weights.read(1 << 20), b""):
            h.update(block)
    h.update(f"torch {version('torch')} onnxruntime {version('onnxruntime')} opset {OPSET}".encode())
    return h.hexdigest()[:16]


def export(model: SentenceTransformer, target: Path) -> None:
    """Write the transformer's forward pass (ids, mask, types → token vectors) to ``target``."""
    import torch

    transformer = model[0].auto_model.eval()

    class Forward(torch.nn.Module):
        # A wrapper with positional inputs: exporting the transformers model directly fails on
        # its keyword-only arguments.
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
            return self.transformer(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    sample = torch.ones((1, 8), dtype=torch.int64)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        # The tracer warns about branches on shapes: with an attention mask given they are constant.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Forward(),
                (sample, sample, torch.zeros_like(sample)),
                partial,
                dynamo=False,
                opset_version=OPSET,
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["tokens"],
                dynamic_axes={name: {0: "batch", 1: "length"} for name in ("input_ids", "attention_mask", "token_type_ids", "tokens")},
            )
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, target)
    finally:
        Path(partial).unlink(missing_ok=True)


class OnnxQueryEncoder:
    """Encodes queries as the local model does, on ONNX Runtime with one thread."""

    def __init__(self, model_path: Path, tokenizer_path: Path):
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(MAX_WORD_PIECES)
        self._tokenizer.enable_padding()

    def encode(self, texts: list[str]) -> list[list[float]]:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        (tokens,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
        weights = mask[..., None].astype(np.float32)
        pooled = (tokens * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return pooled.astype(np.float32).tolist()


_lock = threading.Lock()


def load(model: Callable[[], SentenceTransformer], model_dir: Path, cache_dir: Path) -> OnnxQueryEncoder | None:
    """The encoder from the exported file, exporting it first if needed (``model`` loads the torch
    model, only then); None (queries stay on torch, with a warning) when the export or the runtime
    fails."""
    with _lock:
        try:
            target = cache_dir / f"all-MiniLM-L6-v2-{_digest(model_dir)}.onnx"
            if not target.is_file():
                export(model(), target)
                log.info("Exported the query encoder to %s", target)
            return OnnxQueryEncoder(target, model_dir / "tokenizer.json")
        except Exception:
            log.warning("ONNX query encoder unavailable, queries are encoded with torch", exc_info=True)
            return None
