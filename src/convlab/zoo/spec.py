"""ModelSpec: how to feed a model and how to read its outputs, for zoo models and user models alike.

The face pipeline and the RKNN path pre- and post-process from this description instead of
hard-coding per-model constants. A spec is a small JSON or YAML file next to the .onnx:

    name: detector
    onnx: detector.onnx
    input: {name: input, shape: [1, 3, 240, 320], layout: NCHW,
            mean: [127, 127, 127], std: [128, 128, 128], channel_order: RGB}
    outputs: [{name: loc, shape: [1, 4420, 4]}, {name: conf, shape: [1, 4420, 2]}]
    decoding:
      kind: ssd
      loc: loc
      conf: conf
      conf_activation: softmax          # or logits: the caller applies softmax
      face_class: 1
      variances: [0.1, 0.2]
      priors: {min_sizes: [[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]],
               steps: [8, 16, 32, 64], aspect_ratios: [1.0], clip: false}
               # optional densities: [[4, 2, 1], ...] tiles a min size d x d per cell (FaceBoxes)

Pixels are in [0, 255] in `channel_order`; the network input is (pixel - mean) / std per channel.
Decoding kinds and their keys are in `DECODINGS`.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import ConvlabError, parse_error_text
from ..fileio import atomic_write


class ModelSpecError(ConvlabError):
    """A model spec file or dict is malformed."""


# kind -> (required keys, optional keys with defaults). Output-naming keys must name a declared output.
DECODINGS: dict[str, tuple[tuple[str, ...], dict]] = {
    "classification": (("output", "classes"), {"activation": "logits"}),
    "ssd": (("loc", "conf", "priors"),
            {"conf_activation": "softmax", "face_class": 1, "variances": [0.1, 0.2]}),
    # dialect: "centerface" (log sizes, (y, x) channels, +0.5 cell centre) or "centernet" (linear
    # sizes, (x, y) channels, 3x3 peak picking); see convlab.face.heatmap_decode.
    "centerface": (("heatmap", "scale", "offset"), {"landmarks": None, "stride": 4, "dialect": "centerface"}),
    # point_layout: "xy" (x1, y1, x2, y2, ...) or "planar" (x1..xN then y1..yN, MTCNN's O-Net);
    # transposed: the network sees the crop with rows and columns swapped (MTCNN, trained in column-major
    # Caffe/Matlab), its points still in the crop's own x, y.
    "landmarks": (("output", "num_points"),
                  {"normalized": True, "reference_points": None, "point_layout": "xy", "transposed": False}),
    # same_threshold: the cosine at and above which two templates are the same person, measured for this
    # extractor (`convlab verify` and `gallery identify` default to it); None: not measured.
    "embedding": (("output", "dim"), {"normalize": "l2", "same_threshold": None}),
}
_OUTPUT_KEYS = {"output", "loc", "conf", "heatmap", "scale", "offset", "landmarks"}
_PRIOR_KEYS = {"min_sizes", "steps", "aspect_ratios", "clip", "densities"}


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int, ...]
    layout: str = "NCHW"
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    channel_order: str = "RGB"

    @property
    def height(self) -> int:
        return self.shape[1 if self.layout == "NHWC" else 2]

    @property
    def width(self) -> int:
        return self.shape[2 if self.layout == "NHWC" else 3]

    @property
    def channels(self) -> int:
        return self.shape[3 if self.layout == "NHWC" else 1]


@dataclass(frozen=True)
class OutputSpec:
    name: str
    shape: tuple[int, ...] | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    input: InputSpec
    outputs: tuple[OutputSpec, ...]
    decoding: dict = field(default_factory=dict)
    onnx: str | None = None
    description: str = ""

    @property
    def kind(self) -> str:
        return self.decoding["kind"]

    def to_dict(self) -> dict:
        return {
            "name": self.name, "onnx": self.onnx, "description": self.description,
            "input": {"name": self.input.name, "shape": list(self.input.shape), "layout": self.input.layout,
                      "mean": list(self.input.mean), "std": list(self.input.std),
                      "channel_order": self.input.channel_order},
            "outputs": [{"name": o.name, "shape": None if o.shape is None else list(o.shape)} for o in self.outputs],
            "decoding": self.decoding,
        }

    @classmethod
    def from_dict(cls, d: dict, source: str = "spec") -> "ModelSpec":
        return _parse(d, source)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ModelSpec":
        path = Path(path)
        text = path.read_text()
        try:
            d = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
        except (yaml.YAMLError, json.JSONDecodeError) as e:
            raise ModelSpecError(f"{path}: not valid {'YAML' if path.suffix in ('.yaml', '.yml') else 'JSON'}: {parse_error_text(e)}") from None
        return _parse(d, str(path))

    def save(self, path: str | os.PathLike) -> None:
        """Write as JSON (YAML for a .yaml/.yml path), atomically."""
        path = Path(path)
        d = self.to_dict()
        text = yaml.safe_dump(d, sort_keys=False) if path.suffix in (".yaml", ".yml") else json.dumps(d, indent=2) + "\n"
        atomic_write(path, text)


def _need(d, key: str, where: str):
    if not isinstance(d, dict) or key not in d:
        raise ModelSpecError(f"{where}: missing required key {key!r}")
    return d[key]


def _string(v, where: str) -> str:
    if not isinstance(v, str) or not v:
        hint = " (YAML reads unquoted on/off/yes/no as booleans: quote the name)" if isinstance(v, bool) else ""
        raise ModelSpecError(f"{where}: expected a non-empty string, got {v!r}{hint}")
    return v


def _output_shape(v, where: str) -> tuple[int, ...] | None:
    if v is None:
        return None
    if not isinstance(v, (list, tuple)) or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in v):
        raise ModelSpecError(f"{where}: expected a list of positive ints (or no shape), got {v!r}")
    return tuple(v)


def _numbers(v, n: int | None, where: str) -> tuple[float, ...]:
    if not isinstance(v, (list, tuple)) or not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in v):
        raise ModelSpecError(f"{where}: expected a list of numbers, got {v!r}")
    if n is not None and len(v) != n:
        raise ModelSpecError(f"{where}: expected {n} values, got {len(v)}")
    return tuple(float(t) for t in v)


def _parse(d, src: str) -> ModelSpec:
    if not isinstance(d, dict):
        raise ModelSpecError(f"{src}: a model spec must be a mapping, got {type(d).__name__}")
    i = _need(d, "input", src)
    shape = _need(i, "shape", f"{src}: input")
    if not isinstance(shape, (list, tuple)) or len(shape) != 4 or not all(isinstance(s, int) and s > 0 for s in shape):
        raise ModelSpecError(f"{src}: input.shape must be 4 positive ints, got {shape!r}")
    layout = i.get("layout", "NCHW")
    if layout not in ("NCHW", "NHWC"):
        raise ModelSpecError(f"{src}: input.layout must be NCHW or NHWC, got {layout!r}")
    order = i.get("channel_order", "RGB")
    if order not in ("RGB", "BGR"):
        raise ModelSpecError(f"{src}: input.channel_order must be RGB or BGR, got {order!r}")
    c = shape[3 if layout == "NHWC" else 1]
    std = _numbers(i.get("std", [1.0] * c), c, f"{src}: input.std")
    if any(s == 0 for s in std):
        raise ModelSpecError(f"{src}: input.std must not contain 0")
    inp = InputSpec(_string(_need(i, "name", f"{src}: input"), f"{src}: input.name"), tuple(shape), layout,
                    _numbers(i.get("mean", [0.0] * c), c, f"{src}: input.mean"), std, order)
    outs = _need(d, "outputs", src)
    if not isinstance(outs, list) or not outs:
        raise ModelSpecError(f"{src}: outputs must be a non-empty list")
    outputs = tuple(OutputSpec(_string(_need(o, "name", f"{src}: outputs[{k}]"), f"{src}: outputs[{k}].name"),
                               _output_shape(o.get("shape"), f"{src}: outputs[{k}].shape"))
                    for k, o in enumerate(outs))
    dec = dict(_need(d, "decoding", src))
    kind = _need(dec, "kind", f"{src}: decoding")
    if kind not in DECODINGS:
        raise ModelSpecError(f"{src}: unknown decoding kind {kind!r}; known: {', '.join(DECODINGS)}")
    required, optional = DECODINGS[kind]
    for k in required:
        _need(dec, k, f"{src}: decoding ({kind})")
    unknown = set(dec) - set(required) - set(optional) - {"kind"}
    if unknown:
        raise ModelSpecError(f"{src}: decoding ({kind}) has unknown keys {sorted(unknown)}")
    dec = {"kind": kind, **optional, **dec}
    names = {o.name for o in outputs}
    for k in _OUTPUT_KEYS & set(required + tuple(optional)):
        if dec.get(k) is not None and _string(dec[k], f"{src}: decoding.{k}") not in names:
            raise ModelSpecError(f"{src}: decoding.{k} = {dec[k]!r} is not one of the outputs {sorted(names)}")
    if kind == "centerface" and dec["dialect"] not in ("centerface", "centernet"):
        raise ModelSpecError(f"{src}: decoding.dialect must be centerface or centernet, got {dec['dialect']!r}")
    if kind == "landmarks" and (dec["point_layout"] not in ("xy", "planar") or not isinstance(dec["transposed"], bool)):
        raise ModelSpecError(f"{src}: decoding.point_layout must be xy or planar and decoding.transposed a boolean, "
                             f"got {dec['point_layout']!r}, {dec['transposed']!r}")
    if kind == "embedding" and dec["same_threshold"] is None:
        del dec["same_threshold"]       # a spec without one reads and writes as before it existed
    elif kind == "embedding" and not -1.0 <= _numbers([dec["same_threshold"]], 1,
                                                     f"{src}: decoding.same_threshold")[0] <= 1.0:
        raise ModelSpecError(f"{src}: decoding.same_threshold is a cosine, in [-1, 1]; got {dec['same_threshold']!r}")
    if kind == "ssd":
        _check_priors(dec["priors"], f"{src}: decoding.priors")
        _numbers(dec["variances"], 2, f"{src}: decoding.variances")
        if dec["conf_activation"] not in ("softmax", "logits"):
            raise ModelSpecError(f"{src}: decoding.conf_activation must be softmax or logits")
    return ModelSpec(_string(_need(d, "name", src), f"{src}: name"), inp, outputs, dec, d.get("onnx"), str(d.get("description", "")))


def _check_priors(p, where: str) -> None:
    if not isinstance(p, dict):
        raise ModelSpecError(f"{where}: must be a mapping")
    unknown = set(p) - _PRIOR_KEYS
    if unknown:
        raise ModelSpecError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(_PRIOR_KEYS)}")
    mins, steps = _need(p, "min_sizes", where), _need(p, "steps", where)
    if not isinstance(mins, list) or not mins or not all(isinstance(m, list) and m for m in mins):
        raise ModelSpecError(f"{where}: min_sizes must be a list (one per feature map) of non-empty lists")
    for m in mins:
        if min(_numbers(m, None, f"{where}.min_sizes")) <= 0:
            raise ModelSpecError(f"{where}: min_sizes must be positive")
    if min(_numbers(steps, len(mins), f"{where}.steps (one per min_sizes entry)")) <= 0:
        raise ModelSpecError(f"{where}: steps must be positive")
    if min(_numbers(p.get("aspect_ratios", [1.0]), None, f"{where}.aspect_ratios")) <= 0:
        raise ModelSpecError(f"{where}: aspect_ratios must be positive")
    dens = p.get("densities")
    if dens is not None and (not isinstance(dens, list) or [len(d) if isinstance(d, list) else -1 for d in dens]
                             != [len(m) for m in mins] or not all(isinstance(v, int) and v >= 1 for d in dens for v in d)):
        raise ModelSpecError(f"{where}: densities must be positive ints, one list per min_sizes entry of the same length")
