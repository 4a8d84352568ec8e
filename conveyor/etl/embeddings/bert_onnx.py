"""Build an ONNX graph of a BERT sentence-embedding model from its safetensors weights.

The sentence-transformers packaging of a BERT model (config.json, model.safetensors,
1_Pooling/config.json with mean pooling, a Normalize module) becomes one ONNX model whose output
`sentence_embedding` is what `SentenceTransformer.encode(..., normalize_embeddings=True)` returns:
the encoder's last hidden state, mean-pooled over the attention mask, L2-normalised. No torch is
needed: the weights are read with numpy and the graph is written with `onnx.helper`, so the export
runs on the machine that installs Conveyor, once, from weights shipped in a registry package.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

OPSET = 17
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


class ModelExportError(RuntimeError):
    """The model folder cannot be turned into an ONNX sentence-embedding model."""


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a .safetensors file as a numpy array (format: u64 header size, JSON, data)."""
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
        data = f.read()
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(spec["dtype"])
        if dtype is None:
            raise ModelExportError(f"{path}: tensor {name} has dtype {spec['dtype']}, expected one of {sorted(_DTYPES)}")
        start, end = spec["data_offsets"]
        tensors[name] = np.frombuffer(data[start:end], dtype=dtype).reshape(spec["shape"])
    return tensors


def check_supported(model_dir: Path) -> dict[str, Any]:
    """The BERT config of a sentence-transformers folder this exporter can reproduce exactly."""
    config_path = model_dir / "config.json"
    pooling_path = model_dir / "1_Pooling" / "config.json"
    for needed in (config_path, pooling_path, model_dir / "model.safetensors", model_dir / "tokenizer.json"):
        if not needed.is_file():
            raise ModelExportError(f"{model_dir} is not a sentence-transformers model folder: {needed.name} is missing")
    config = json.loads(config_path.read_text())
    pooling = json.loads(pooling_path.read_text())
    if config.get("model_type") != "bert" or config.get("position_embedding_type", "absolute") != "absolute":
        raise ModelExportError(f"{model_dir}: only BERT models with absolute positions can be exported, "
                               f"got model_type={config.get('model_type')!r}")
    if config.get("hidden_act") != "gelu":
        raise ModelExportError(f"{model_dir}: hidden_act {config.get('hidden_act')!r} is not supported (gelu only)")
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
    if modes != ["pooling_mode_mean_tokens"]:
        raise ModelExportError(f"{model_dir}: only mean pooling is supported, the model uses {modes}")
    return config


def export_bert_onnx(model_dir: Path, target: Path) -> Path:
    """Write `target` (atomically: a crash leaves no half-written model behind) and return it."""
    config = check_supported(model_dir)
    weights = read_safetensors(model_dir / "model.safetensors")
    # Some exports prefix every name with "bert."; the sentence-transformers one does not.
    weights = {k.removeprefix("bert."): v for k, v in weights.items()}
    model = _build_graph(config, weights)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".onnx", dir=target.parent)
    os.close(fd)
    try:
        import onnx

        onnx.save_model(model, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _build_graph(config: dict[str, Any], w: dict[str, np.ndarray]) -> Any:
    from onnx import TensorProto, helper, numpy_helper

    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    head_dim = hidden // heads
    eps = float(config.get("layer_norm_eps", 1e-12))
    nodes: list[Any] = []
    inits: list[Any] = []
    counter = iter(range(1_000_000))

    def const(array: np.ndarray, name: str | None = None) -> str:
        name = name or f"c{next(counter)}"
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(kind: str, inputs: list[str], **attrs: Any) -> str:
        out = f"{kind.lower()}_{next(counter)}"
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def weight(name: str) -> np.ndarray:
        if name not in w:
            raise ModelExportError(f"weight {name} is missing from model.safetensors")
        return w[name].astype(np.float32)

    def linear(x: str, prefix: str) -> str:
        # torch Linear keeps W as [out, in]; x @ W.T + b
        return op("Add", [op("MatMul", [x, const(weight(f"{prefix}.weight").T, f"{prefix}.wT")]),
                          const(weight(f"{prefix}.bias"), f"{prefix}.b")])

    def layer_norm(x: str, prefix: str) -> str:
        return op("LayerNormalization", [x, const(weight(f"{prefix}.weight"), f"{prefix}.g"),
                                         const(weight(f"{prefix}.bias"), f"{prefix}.b")], axis=-1, epsilon=eps)

    f32 = lambda v: np.array(v, dtype=np.float32)  # noqa: E731
    i64 = lambda v: np.array(v, dtype=np.int64)  # noqa: E731

    # Embeddings: word + position + token type, then LayerNorm.
    seq_len = op("Gather", [op("Shape", ["input_ids"]), const(i64(1))], axis=0)
    positions = op("Unsqueeze", [op("Range", [const(i64(0)), seq_len, const(i64(1))]), const(i64([0]))])
    x = op("Add", [op("Add", [op("Gather", [const(weight("embeddings.word_embeddings.weight")), "input_ids"]),
                              op("Gather", [const(weight("embeddings.position_embeddings.weight")), positions])]),
                   op("Gather", [const(weight("embeddings.token_type_embeddings.weight")), "token_type_ids"])])
    x = layer_norm(x, "embeddings.LayerNorm")

    # Padding positions get a large negative attention bias, as transformers' BertModel does.
    # (Unsqueeze, Cast, Sub, Mul: the node order of transformers' own ONNX export, which
    # onnxruntime's transformer optimizer recognises and fuses into one Attention operator.)
    bias = op("Unsqueeze", ["attention_mask", const(i64([1, 2]))])  # [B, 1, 1, L]
    bias = op("Mul", [op("Sub", [const(f32(1.0)), op("Cast", [bias], to=TensorProto.FLOAT)]), const(f32(-10000.0))])
    split_heads = const(i64([0, 0, heads, head_dim]))
    merge_heads = const(i64([0, 0, hidden]))
    scale = const(f32(np.sqrt(head_dim)))
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}"
        q = op("Transpose", [op("Reshape", [linear(x, f"{p}.attention.self.query"), split_heads])], perm=[0, 2, 1, 3])
        k = op("Transpose", [op("Reshape", [linear(x, f"{p}.attention.self.key"), split_heads])], perm=[0, 2, 3, 1])
        v = op("Transpose", [op("Reshape", [linear(x, f"{p}.attention.self.value"), split_heads])], perm=[0, 2, 1, 3])
        scores = op("Add", [op("Div", [op("MatMul", [q, k]), scale]), bias])
        context = op("MatMul", [op("Softmax", [scores], axis=-1), v])
        context = op("Reshape", [op("Transpose", [context], perm=[0, 2, 1, 3]), merge_heads])
        x = layer_norm(op("Add", [linear(context, f"{p}.attention.output.dense"), x]), f"{p}.attention.output.LayerNorm")
        inner = linear(x, f"{p}.intermediate.dense")
        # Exact GELU, 0.5 * x * (1 + erf(x / sqrt(2))), as BERT's "gelu" is.
        erf = op("Add", [op("Erf", [op("Div", [inner, const(f32(np.sqrt(2.0)))])]), const(f32(1.0))])
        gelu = op("Mul", [op("Mul", [inner, erf]), const(f32(0.5))])
        x = layer_norm(op("Add", [linear(gelu, f"{p}.output.dense"), x]), f"{p}.output.LayerNorm")

    # Mean pooling over real tokens (sentence-transformers: sum / clamp(count, 1e-9)), then L2 norm.
    mask3 = op("Unsqueeze", [op("Cast", ["attention_mask"], to=TensorProto.FLOAT), const(i64([2]))])
    summed = op("ReduceSum", [op("Mul", [x, mask3]), const(i64([1]))], keepdims=0)
    count = op("Max", [op("ReduceSum", [mask3, const(i64([1]))], keepdims=0), const(f32(1e-9))])
    mean = op("Div", [summed, count])
    norm = op("Max", [op("Sqrt", [op("ReduceSum", [op("Mul", [mean, mean]), const(i64([1]))], keepdims=1)]),
                      const(f32(1e-12))])
    nodes.append(helper.make_node("Div", [mean, norm], ["sentence_embedding"]))

    ids_type = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
                for n in ("input_ids", "attention_mask", "token_type_ids")]
    out_type = helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])
    graph = helper.make_graph(nodes, "sentence_embedding", ids_type, [out_type], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="pytorch")
