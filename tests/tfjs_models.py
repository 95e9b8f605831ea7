"""Tiny TF.js graph models written by hand, and a NumPy reference of TensorFlow's NHWC semantics for them.

`TfjsGraph` writes model.json + weight shards in the converter's format (GraphDef as JSON, base64
strings, weightsManifest; optionally quantised the way tensorflowjs_converter quantises). `reference`
runs the same node list in NumPy, written from TensorFlow's op definitions (NHWC, SAME pads the odd
pixel after, AvgPool counts only in-image pixels), independently of the importer's NCHW rewriting.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np


def _attr(v):
    if isinstance(v, bool):
        return {"b": v}
    if isinstance(v, int):
        return {"i": str(v)}
    if isinstance(v, float):
        return {"f": v}
    if isinstance(v, str):
        return {"s": base64.b64encode(v.encode()).decode()}
    if isinstance(v, list) and all(isinstance(t, str) for t in v) and v:
        return {"list": {"s": [base64.b64encode(t.encode()).decode() for t in v]}}
    if isinstance(v, list):
        return {"list": {"i": [str(t) for t in v]}}
    raise TypeError(v)


class TfjsGraph:
    def __init__(self, input_shape):
        self.input_shape = tuple(input_shape)
        self.nodes = [{"name": "x", "op": "Placeholder", "attr": {
            "dtype": {"type": "DT_FLOAT"},
            "shape": {"shape": {"dim": [{"size": str(d)} for d in (-1, *input_shape[1:])]}}}}]
        self.weights: dict[str, np.ndarray] = {}
        self.output = "x"

    def const(self, name, value, dtype=np.float32):
        value = np.asarray(value, dtype)
        self.weights[name] = value
        tf_type = "DT_FLOAT" if value.dtype == np.float32 else "DT_INT32"
        self.nodes.append({"name": name, "op": "Const", "attr": {
            "dtype": {"type": tf_type},
            "value": {"tensor": {"dtype": tf_type, "tensorShape": {"dim": [{"size": str(d)} for d in value.shape]}}}}})
        return name

    def op(self, op, name, inputs, **attrs):
        if "Conv" in op or "Pool" in op:   # tensorflowjs_converter always writes these; tfjs reads them
            attrs = {"data_format": "NHWC", **({} if "Pool" in op else {"dilations": [1, 1, 1, 1]}), **attrs}
        self.nodes.append({"name": name, "op": op, "input": list(inputs),
                           "attr": {k: _attr(v) for k, v in attrs.items()}})
        self.output = name
        return name

    def model_json(self, paths, specs) -> dict:
        return {"format": "graph-model", "generatedBy": "convlab tests", "convertedBy": "hand",
                "modelTopology": {"node": self.nodes, "library": {}, "versions": {}},
                "userDefinedMetadata": {"signature": {"outputs": {self.output: {"name": self.output}}}},
                "weightsManifest": [{"paths": paths, "weights": specs}]}

    def write(self, directory, quantize: str | None = None, shards: int = 1) -> Path:
        """model.json and `shards` .bin files; quantize "uint8" / "uint16" / "float16" stores the float32
        weights that way (int32 ones stay exact). Returns the model.json path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        specs, blobs = [], []
        for name, v in self.weights.items():
            spec = {"name": name, "shape": list(v.shape), "dtype": "float32" if v.dtype == np.float32 else "int32"}
            if quantize and v.dtype == np.float32:
                if quantize == "float16":
                    blobs.append(v.astype("<f2").tobytes())
                    spec["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
                else:
                    levels = 255 if quantize == "uint8" else 65535
                    lo, hi = float(v.min(initial=0)), float(v.max(initial=0))
                    scale = (hi - lo) / levels or 1.0
                    q = np.round((v - lo) / scale).astype("u1" if quantize == "uint8" else "<u2")
                    blobs.append(q.tobytes())
                    spec["quantization"] = {"dtype": quantize, "scale": scale, "min": lo, "original_dtype": "float32"}
            else:
                blobs.append(v.astype("<f4" if v.dtype == np.float32 else "<i4").tobytes())
            specs.append(spec)
        data = b"".join(blobs)
        cut = [len(data) * k // shards for k in range(shards + 1)]
        paths = [f"group1-shard{k + 1}of{shards}.bin" for k in range(shards)]
        for k, p in enumerate(paths):
            (directory / p).write_bytes(data[cut[k]:cut[k + 1]])
        path = directory / "model.json"
        path.write_text(json.dumps(self.model_json(paths, specs)))
        return path


def dequantized(value: np.ndarray, quantize: str | None) -> np.ndarray:
    """The float32 weights tfjs decodes from what `TfjsGraph.write` stored."""
    if not quantize or value.dtype != np.float32:
        return value
    if quantize == "float16":
        return value.astype(np.float16).astype(np.float32)
    levels = 255 if quantize == "uint8" else 65535
    lo, hi = float(value.min(initial=0)), float(value.max(initial=0))
    scale = (hi - lo) / levels or 1.0
    return (np.round((value - lo) / scale) * scale + lo).astype(np.float32)


# ---- the NumPy reference (float64, NHWC) ---------------------------------------------------------------

def _decoded(attr):
    if "s" in attr:
        return base64.b64decode(attr["s"]).decode()
    if "i" in attr:
        return int(attr["i"])
    if "f" in attr:
        return attr["f"]
    if "b" in attr:
        return attr["b"]
    lst = attr.get("list", {})
    if "s" in lst:
        return [base64.b64decode(s).decode() for s in lst["s"]]
    return [int(t) for t in lst.get("i", [])]


def _pad_same(x, k, s, d, padding, explicit=None, value=0.0):
    pads = [(0, 0)]
    for i in range(2):
        size, eff = x.shape[1 + i], (k[i] - 1) * d[i] + 1
        if padding == "SAME":
            total = max((-(-size // s[i]) - 1) * s[i] + eff - size, 0)
            pads.append((total // 2, total - total // 2))
        elif padding == "EXPLICIT":
            pads.append((explicit[2 + 2 * i], explicit[3 + 2 * i]))
        else:
            pads.append((0, 0))
    return np.pad(x, pads + [(0, 0)], constant_values=value)


def _windows(x, k, s, d):
    """(N, OH, OW, kh, kw, C) view of the padded input's windows."""
    oh = (x.shape[1] - (k[0] - 1) * d[0] - 1) // s[0] + 1
    ow = (x.shape[2] - (k[1] - 1) * d[1] - 1) // s[1] + 1
    out = np.empty((x.shape[0], oh, ow, k[0], k[1], x.shape[3]), x.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            out[:, :, :, i, j] = x[:, i * d[0]:i * d[0] + (oh - 1) * s[0] + 1:s[0],
                                   j * d[1]:j * d[1] + (ow - 1) * s[1] + 1:s[1]]
    return out


def _activation(y, op, args):
    if op == "Relu":
        return np.maximum(y, 0)
    if op == "Relu6":
        return np.clip(y, 0, 6)
    if op == "Prelu":
        return np.where(y >= 0, y, y * args[0])
    if op == "LeakyRelu":
        return np.where(y >= 0, y, y * 0.2)
    if op == "Sigmoid":
        return 1 / (1 + np.exp(-y))
    raise NotImplementedError(op)


def reference(graph: TfjsGraph, x: np.ndarray, weights: dict | None = None) -> np.ndarray:
    v = {n: w.astype(np.float64) if w.dtype == np.float32 else w for n, w in (weights or graph.weights).items()}
    v["x"] = x.astype(np.float64)
    for n in graph.nodes:
        op, a = n["op"], {k: _decoded(t) for k, t in n.get("attr", {}).items() if k not in ("dtype", "value", "shape")}
        ins = [v[i] for i in n.get("input", [])]
        if op in ("Placeholder", "Const"):
            continue
        if op in ("Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"):
            xx, w = ins[0], ins[1]
            s, d = a.get("strides", [1] * 4)[1:3], a.get("dilations", [1] * 4)[1:3]
            win = _windows(_pad_same(xx, w.shape[:2], s, d, a["padding"], a.get("explicit_paddings")), w.shape[:2], s, d)
            if "Depthwise" in op:
                y = np.einsum("nhwijc,ijcm->nhwcm", win, w).reshape(*win.shape[:3], -1)
            else:
                y = np.einsum("nhwijc,ijco->nhwo", win, w)
            fused, args = a.get("fused_ops", []), ins[2:]
            if fused[:1] == ["BiasAdd"]:
                y, fused, args = y + args[0], fused[1:], args[1:]
            v[n["name"]] = _activation(y, fused[0], args) if fused else y
        elif op in ("MaxPool", "AvgPool"):
            k, s = a["ksize"][1:3], a["strides"][1:3]
            fill = -np.inf if op == "MaxPool" else np.nan
            win = _windows(_pad_same(ins[0], k, s, (1, 1), a["padding"], value=fill), k, s, (1, 1))
            v[n["name"]] = win.max(axis=(3, 4)) if op == "MaxPool" else np.nanmean(win, axis=(3, 4))
        elif op == "BiasAdd":
            v[n["name"]] = ins[0] + ins[1]
        elif op in ("Relu", "Relu6", "Sigmoid"):
            v[n["name"]] = _activation(ins[0], op, [])
        elif op == "Prelu":
            v[n["name"]] = _activation(ins[0], op, ins[1:])
        elif op in ("Add", "AddV2", "Sub", "Mul", "RealDiv", "Maximum", "Minimum"):
            f = {"Add": np.add, "AddV2": np.add, "Sub": np.subtract, "Mul": np.multiply, "RealDiv": np.divide,
                 "Maximum": np.maximum, "Minimum": np.minimum}[op]
            v[n["name"]] = f(ins[0], ins[1])
        elif op in ("Abs", "Square", "Rsqrt", "Tanh"):
            v[n["name"]] = {"Abs": np.abs, "Square": np.square, "Rsqrt": lambda t: 1 / np.sqrt(t),
                            "Tanh": np.tanh}[op](ins[0])
        elif op in ("Sum", "Mean", "Max"):
            f = {"Sum": np.sum, "Mean": np.mean, "Max": np.max}[op]
            v[n["name"]] = f(ins[0], axis=tuple(np.atleast_1d(ins[1]).tolist()), keepdims=a.get("keep_dims", False))
        elif op == "Squeeze":
            v[n["name"]] = np.squeeze(ins[0], axis=tuple(a["squeeze_dims"]))
        elif op == "Reshape":
            v[n["name"]] = ins[0].reshape(ins[1])
        elif op == "ConcatV2":
            v[n["name"]] = np.concatenate(ins[:-1], axis=int(ins[-1]))
        elif op in ("Pad", "PadV2"):
            v[n["name"]] = np.pad(ins[0], ins[1], constant_values=ins[2] if len(ins) > 2 else 0)
        elif op in ("MatMul", "_FusedMatMul"):
            b = ins[1].T if a.get("transpose_b") else ins[1]
            y = ins[0] @ b
            fused, args = a.get("fused_ops", []), ins[2:]
            if fused[:1] == ["BiasAdd"]:
                y, fused, args = y + args[0], fused[1:], args[1:]
            v[n["name"]] = _activation(y, fused[0], args) if fused else y
        elif op == "Softmax":
            e = np.exp(ins[0] - ins[0].max(axis=-1, keepdims=True))
            v[n["name"]] = e / e.sum(axis=-1, keepdims=True)
        elif op == "FusedBatchNormV3":
            xx, scale, offset, mean, var = ins
            v[n["name"]] = (xx - mean) / np.sqrt(var + a["epsilon"]) * scale + offset
        else:
            raise NotImplementedError(op)
    return v[graph.output]
