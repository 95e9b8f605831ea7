"""Model size and cost: parameters, multiply-accumulates and conv layer count from the ONNX graph.

Parameters count conv/Gemm weights and biases and PReLU slopes, not BatchNormalization (it folds
into the conv), matching how the MobileNet papers count. MACs count Conv and Gemm only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference


@dataclass(frozen=True)
class ModelStats:
    params: int
    macs: int
    conv_layers: int
    depthwise_layers: int


def model_stats(model: onnx.ModelProto) -> ModelStats:
    inferred = shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    params = macs = convs = dw = 0
    for n in model.graph.node:
        if n.op_type in ("Conv", "Gemm", "PRelu"):
            params += sum(int(inits[i].size) for i in n.input[1:] if i in inits)
        if n.op_type == "Conv":
            w = inits[n.input[1]]
            group = next((a.i for a in n.attribute if a.name == "group"), 1)
            out = shapes[n.output[0]]
            macs += int(np.prod(out)) * int(np.prod(w.shape[1:]))
            convs += 1
            dw += int(group > 1 and group == out[1] and w.shape[1] == 1)
        elif n.op_type == "Gemm":
            macs += int(inits[n.input[1]].size)
    return ModelStats(params, macs, convs, dw)
