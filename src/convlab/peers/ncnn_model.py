"""A whole ONNX model on ncnn, as a same-run peer: converted by pnnx, cached, run through ncnn's Python API.

    pnnx model.onnx inputshape=[1,3,H,W] fp16=0

(without ``fp16=0`` pnnx stores fp16 weights). pnnx writes a dozen files next to its input, so it runs
on a copy in a temporary directory; the resulting ``model.ncnn.param`` / ``model.ncnn.bin`` are cached
under ``$CONVLAB_CACHE/pnnx/<sha256 of the ONNX file>/<input shapes>/`` with a ``meta.json`` (pnnx
version, command, rewrites) and reused while the pnnx version is the same.

One rewrite is made on the copy pnnx sees, because pnnx gets it wrong: an ``auto_pad=SAME_UPPER`` /
``SAME_LOWER`` pool or conv is converted with symmetric padding (MTCNN R-Net's first MaxPool on a
22x22 map: ONNX pads 0 before / 1 after, pnnx pads 1 and 1, shifting every window; ~18% error at the
output). The copy gets the same padding as explicit ``pads`` computed for the fixed input shape,
which is the same computation in ONNX terms. Outputs are still checked against onnxruntime before
anything is timed.

ncnn runs fp32 only (fp16/bf16 storage and arithmetic off, as in ncnn_conv.py), ``num_threads`` as
asked, one image at a time: pnnx drops the batch dimension, so batch must be 1. pnnx names the
inputs in0, in1, ... and the outputs out0, out1, ... in the ONNX graph's order.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

from ..errors import ConvlabError
from .ncnn_conv import fp32_net


class NcnnUnavailable(ConvlabError):
    """ncnn or pnnx is missing, or pnnx could not convert the model: the message says which."""


def cache_root() -> Path:
    return Path(os.environ.get("CONVLAB_CACHE") or Path.home() / ".cache" / "convlab") / "pnnx"


def pnnx_executable() -> str | None:
    """The pnnx console script of this interpreter's environment, else the one on PATH."""
    here = Path(sys.executable).parent / "pnnx"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which("pnnx")


def pnnx_version() -> str | None:
    try:
        return metadata.version("pnnx")
    except metadata.PackageNotFoundError:
        return None


def _shape_arg(shapes: list[tuple[int, ...]]) -> str:
    return ",".join("[" + ",".join(str(d) for d in s) + "]" for s in shapes)


def explicit_pads(model_bytes: bytes, input_shapes: dict[str, tuple[int, ...]]) -> tuple[bytes, list[str]]:
    """The model with every SAME_UPPER/SAME_LOWER auto_pad of Conv/MaxPool/AveragePool replaced by the
    explicit ``pads`` it means at these input shapes; unchanged bytes when there is none."""
    import onnx
    from onnx import helper, shape_inference
    m = onnx.load_from_string(model_bytes)
    same = [n for n in m.graph.node if n.op_type in ("Conv", "MaxPool", "AveragePool", "LpPool")
            and any(a.name == "auto_pad" and a.s in (b"SAME_UPPER", b"SAME_LOWER") for a in n.attribute)]
    if not same:
        return model_bytes, []
    for vi in m.graph.input:
        if vi.name in input_shapes:
            dims = vi.type.tensor_type.shape.dim
            for d, v in zip(dims, input_shapes[vi.name]):
                d.Clear()
                d.dim_value = v
    inferred = shape_inference.infer_shapes(m)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.input)}
    notes = []
    for n in same:
        a = {x.name: x for x in n.attribute}
        x = shapes.get(n.input[0])
        if n.op_type == "Conv":
            w = next((i for i in m.graph.initializer if i.name == n.input[1]), None)
            k = list(a["kernel_shape"].ints) if "kernel_shape" in a else (list(w.dims[2:]) if w is not None else None)
        else:
            k = list(a["kernel_shape"].ints)
        if not x or not k or any(v <= 0 for v in x[2:]):
            raise NcnnUnavailable(f"node {n.name!r} ({n.op_type}, auto_pad) has no static input shape to make its "
                                  "padding explicit for pnnx")
        s = list(a["strides"].ints) if "strides" in a else [1] * len(k)
        dil = list(a["dilations"].ints) if "dilations" in a else [1] * len(k)
        begin, end = [], []
        for i, size in enumerate(x[2:]):
            out = math.ceil(size / s[i])
            total = max(0, (out - 1) * s[i] + (k[i] - 1) * dil[i] + 1 - size)
            lo = total // 2 if a["auto_pad"].s == b"SAME_UPPER" else total - total // 2
            begin.append(lo)
            end.append(total - lo)
        mode = a["auto_pad"].s.decode()
        n.attribute.remove(a["auto_pad"])
        n.attribute.append(helper.make_attribute("pads", begin + end))
        notes.append(f"{n.name} ({n.op_type}): auto_pad={mode} -> pads={begin + end}")
    return m.SerializeToString(), notes


def convert(model_bytes: bytes, input_shapes: dict[str, tuple[int, ...]], *, timeout: float = 900) -> dict:
    """The cached (or freshly converted) ncnn files for this ONNX at these input shapes:
    {"param", "bin", "dir", "cache": "hit"|"miss", "seconds", "rewrites", "pnnx"}."""
    exe = pnnx_executable()
    version = pnnx_version()
    if exe is None:
        raise NcnnUnavailable("pnnx not installed (pip install pnnx; it is in convlab's dev extra)")
    digest = hashlib.sha256(model_bytes).hexdigest()
    shape_list = [tuple(int(d) for d in s) for s in input_shapes.values()]
    key = "_".join("x".join(map(str, s)) for s in shape_list)
    final = cache_root() / digest / key
    param, binf, meta_path = final / "model.ncnn.param", final / "model.ncnn.bin", final / "meta.json"
    if param.is_file() and binf.is_file() and meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError:
            meta = {}
        if meta.get("pnnx") == version:
            return {"param": str(param), "bin": str(binf), "dir": str(final), "cache": "hit", "seconds": 0.0,
                    "rewrites": meta.get("rewrites", []), "pnnx": version}
    import time
    t0 = time.perf_counter()
    data, rewrites = explicit_pads(model_bytes, input_shapes)
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="convlab-pnnx-") as tmp:
        src = Path(tmp) / "model.onnx"
        src.write_bytes(data)
        cmd = [exe, src.name, f"inputshape={_shape_arg(shape_list)}", "fp16=0"]
        try:
            r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise NcnnUnavailable(f"pnnx conversion timed out after {timeout:.0f} s") from None
        out_param, out_bin = Path(tmp) / "model.ncnn.param", Path(tmp) / "model.ncnn.bin"
        if r.returncode != 0 or not out_param.is_file() or not out_bin.is_file():
            lines = [ln for ln in (r.stderr + "\n" + r.stdout).splitlines() if ln.strip()]
            raise NcnnUnavailable(f"pnnx conversion failed (exit {r.returncode}): "
                                  + (" | ".join(lines[-3:]) if lines else "no output"))
        stage = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=final.parent))
        try:
            shutil.move(str(out_param), stage / "model.ncnn.param")
            shutil.move(str(out_bin), stage / "model.ncnn.bin")
            (stage / "meta.json").write_text(json.dumps(
                {"pnnx": version, "sha256": digest, "inputshape": _shape_arg(shape_list),
                 "command": " ".join(["pnnx", "model.onnx", *cmd[2:]]), "rewrites": rewrites}, indent=1) + "\n")
            if final.exists():             # stale (another pnnx version) or incomplete
                shutil.rmtree(final, ignore_errors=True)
            try:
                os.replace(stage, final)   # readers see a complete set or none
            except OSError:
                if not (param.is_file() and binf.is_file()):
                    raise
                shutil.rmtree(stage, ignore_errors=True)   # a concurrent run got there first: same files
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
    return {"param": str(param), "bin": str(binf), "dir": str(final), "cache": "miss",
            "seconds": time.perf_counter() - t0, "rewrites": rewrites, "pnnx": version}


class NcnnModel:
    """A converted model loaded in ncnn; call with {input name: array} (the ONNX names, batch 1),
    returns the outputs as arrays reshaped to ``output_shapes`` (ncnn drops the batch dimension)."""

    def __init__(self, param: str, binf: str, input_names: list[str], output_shapes: list[tuple[int, ...]],
                 threads: int = 1):
        try:
            import ncnn
        except ImportError:
            raise NcnnUnavailable("ncnn not installed (pip install ncnn; it is in convlab's dev and peers extras)") from None
        self._ncnn = ncnn
        self.net = fp32_net(ncnn, threads)
        if self.net.load_param(param) != 0 or self.net.load_model(binf) != 0:
            raise NcnnUnavailable(f"ncnn rejected the pnnx output {param}")
        self.inputs = [(f"in{i}", name) for i, name in enumerate(input_names)]
        self.outputs = [(f"out{i}", tuple(s)) for i, s in enumerate(output_shapes)]
        self.threads = threads

    def __call__(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        ex = self.net.create_extractor()
        for blob, name in self.inputs:
            x = feeds[name]
            if x.shape[0] != 1:
                raise NcnnUnavailable(f"input {name!r} has batch {x.shape[0]}; the ncnn runner takes batch 1")
            # a copy ncnn owns: a Mat over NumPy's memory crashes ncnn when the first layer works in place
            # (a scalar BinaryOp: the pixel normalisation TF.js and MXNet models start with)
            ex.input(blob, self._ncnn.Mat(np.ascontiguousarray(x[0])).clone())
        out = []
        for blob, shape in self.outputs:
            rc, y = ex.extract(blob)
            if rc != 0:
                raise RuntimeError(f"ncnn extract({blob}) returned {rc}")
            out.append(np.array(y).reshape(shape))
        return out
