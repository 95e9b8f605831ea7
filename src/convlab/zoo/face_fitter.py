"""Face fitter: a PFLD-style landmark regressor (Guo et al. 2019, backbone table), 112x112 crop.

MobileNetV2 bottlenecks down to 14x14, then the paper's multi-scale fully connected head: the
pooled 14x14 (S1) and 7x7 (S2) maps and a 7x7-conv 1x1 map (S3) are concatenated into one FC
layer. A sigmoid maps its output to normalised crop coordinates in (0, 1), (1, K, 2) as (x, y).

For 5 points the FC bias places the untrained model's points on the standard 112x112 alignment
template (ArcFace's), with small weights scattering them by a few pixels per image: meaningless
but plausible. For 68 points the bias is zero (points scatter around the crop centre).
"""
from __future__ import annotations

import numpy as np

from .blocks import bottleneck_stage
from .graph import GraphBuilder
from .spec import InputSpec, ModelSpec, OutputSpec

SIZE = 112
# Five-point template for a 112x112 crop: left eye, right eye, nose tip, left and right mouth corner.
TEMPLATE_5 = [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
BOTTLENECKS = [(2, 64, 5, 2), (2, 128, 1, 2), (4, 128, 6, 1), (2, 16, 1, 1)]


def build(seed: int | list[int], num_points: int = 5):
    if num_points not in (5, 68):
        raise ValueError(f"fitter supports 5 or 68 landmarks, got {num_points}")
    name = "fitter" if num_points == 5 else f"fitter{num_points}"
    b = GraphBuilder(name, seed, "input", (1, 3, SIZE, SIZE))
    x = b.conv_bn_act("input", 64, 3, 2)
    x = b.conv_bn_act(x, 64, 3, 1, groups=64)
    for row in BOTTLENECKS:
        x = bottleneck_stage(b, x, *row, act="relu")
    s1 = x                                                          # 14x14x16
    s2 = b.conv_bn_act(s1, 32, 3, 2)                                # 7x7x32
    s3 = b.conv_bn_act(s2, 128, 7, 1, pad=0)                        # 1x1x128
    feats = b.concat([b.flatten(b.global_avg_pool(s1)), b.flatten(b.global_avg_pool(s2)), b.flatten(s3)])
    if num_points == 5:
        p = np.clip(np.array(TEMPLATE_5, np.float64).reshape(-1) / SIZE, 1e-3, 1 - 1e-3)
        bias, gain = np.log(p / (1 - p)), 0.1
    else:
        bias, gain = np.zeros(2 * num_points), 1.0
    y = b.sigmoid(b.gemm(feats, 2 * num_points, gain=gain, bias_init=bias))
    b.rename(b.reshape(y, [1, num_points, 2], 2), "landmarks")
    spec = ModelSpec(
        name, InputSpec("input", (1, 3, SIZE, SIZE), "NCHW", (0.0,) * 3, (255.0,) * 3, "RGB"),
        (OutputSpec("landmarks", (1, num_points, 2)),),
        {"kind": "landmarks", "output": "landmarks", "num_points": num_points, "normalized": True,
         "reference_points": [[x / SIZE, y / SIZE] for x, y in TEMPLATE_5] if num_points == 5 else None,
         "point_layout": "xy", "transposed": False},
        description=f"PFLD-style {num_points}-point landmark regressor on a 112x112 crop, coordinates "
                    "normalised to the crop; seeded untrained weights (meaningless but well scaled)")
    return b.finish([("landmarks", [1, num_points, 2])], spec.description), spec
