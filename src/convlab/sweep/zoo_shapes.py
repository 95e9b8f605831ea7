"""Every distinct conv layer shape of the zoo models, read from their ONNX graphs.

The graphs are built (seeded, no calibration: weights do not change shapes) and run through onnx
shape inference for each Conv's input size. Layers the sweep's Shape cannot express (non-square
kernels or strides, asymmetric padding, dilation) are left out and counted in `skipped`.
"""
from __future__ import annotations

import zlib

import onnx
from onnx import shape_inference

from ..spec import resolve_auto_pad
from .grid import Shape

skipped: list[str] = []


def conv_layers(model: onnx.ModelProto) -> list[dict]:
    model = shape_inference.infer_shapes(model)
    g = model.graph
    dims = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in list(g.input) + list(g.value_info)}
    weights = {t.name: tuple(t.dims) for t in g.initializer}
    out = []
    for node in g.node:
        if node.op_type != "Conv":
            continue
        a = {x.name: onnx.helper.get_attribute_value(x) for x in node.attribute}
        n, c, h, w = dims[node.input[0]]
        co, _, kh, kw = weights[node.input[1]]
        stride, dil = tuple(a.get("strides", (1, 1))), tuple(a.get("dilations", (1, 1)))
        auto = a.get("auto_pad", b"NOTSET")
        pads = resolve_auto_pad(auto.decode() if isinstance(auto, bytes) else auto, a.get("pads"), (h, w),
                                (kh, kw), stride, dil)
        out.append(dict(name=node.name, c_in=c, c_out=co, kh=kh, kw=kw, stride=stride, pads=tuple(pads),
                        dilation=dil, groups=int(a.get("group", 1)), h=h, w=w))
    return out


def zoo_shapes(models: list[str] | None = None) -> list[Shape]:
    from ..zoo import DEFAULT_MODELS, MODELS
    skipped.clear()
    shapes: list[Shape] = []
    for name in models or DEFAULT_MODELS:
        model, _ = MODELS[name]([0, zlib.crc32(name.encode())])
        for L in conv_layers(model):
            if L["kh"] != L["kw"] or L["stride"][0] != L["stride"][1] or len(set(L["pads"])) != 1 or L["dilation"] != (1, 1):
                skipped.append(f"{name}/{L['name']}")
                continue
            op = "depthwise" if L["groups"] == L["c_in"] == L["c_out"] > 1 else "conv"
            s = Shape(op, L["kh"], L["stride"][0], L["pads"][0], L["c_in"], L["c_out"], L["h"], L["w"], L["groups"], 1)
            if s not in shapes:
                shapes.append(s)
    return shapes
