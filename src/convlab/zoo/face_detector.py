"""Face detector: an SSD with four prior-box heads on a depthwise-separable backbone, 320x240.

The layout follows the public "Ultra-Light-Fast-Generic-Face-Detector" slim-320 (an SSD tuned
for 320x240 faces, the input size FaceBoxes is benchmarked at in the LINE study): heads on the
stride 8, 16, 32 and 64 maps with FaceBoxes-like square anchors of 10-256 px, 4420 priors in all.
FaceBoxes' own anchors (32-512 px on stride 32-128) are meant for 1024-px images and would
leave a 320x240 input only ~1700 priors, mostly larger than the image.

Outputs: `loc` (1, A, 4) raw SSD offsets (decode with the priors and variances 0.1/0.2) and
`conf` (1, A, 2) softmax probabilities, class 1 = face. The conf head's bias carries a
background prior (logit +0.75 background, -0.75 face), so like a trained detector few anchors
score above 0.5, while on generated images about half pass the 0.1 threshold and ~85% pass 0.05:
several thousand candidates, which is what makes NMS_TOP_K matter.
"""
from __future__ import annotations

import numpy as np

from ..postprocess.priors import ssd_priors
from .blocks import depthwise_separable
from .graph import GraphBuilder
from .spec import InputSpec, ModelSpec, OutputSpec

WIDTH, HEIGHT = 320, 240
BASE = 16
MIN_SIZES = [[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]]
STEPS = [8, 16, 32, 64]
VARIANCES = [0.1, 0.2]
CONF_BIAS = (0.75, -0.75)   # (background, face) logit prior


def _separable_head(b: GraphBuilder, x: str, c_out: int, bias_init=None) -> str:
    """Depthwise 3x3 + ReLU, then a 1x1 conv to the head outputs (no BN: heads end in a bias)."""
    y = b.relu(b.conv(x, b.channels[x], 3, groups=b.channels[x], bias=True))
    return b.conv(y, c_out, 1, gain=1.0, bias=True, bias_init=bias_init)


def flatten_head(b: GraphBuilder, x: str, per_anchor: int) -> str:
    """(1, nA * k, H, W) -> (1, H * W * nA, k): prior order is row, column, then anchor."""
    return b.reshape(b.transpose(x, [0, 2, 3, 1], per_anchor), [1, -1, per_anchor], per_anchor)


def build(seed: int | list[int]):
    b = GraphBuilder("detector", seed, "input", (1, 3, HEIGHT, WIDTH))
    x = b.conv_bn_act("input", BASE, 3, 2)                                    # 160x120
    plan = [(BASE * 2, 1), (BASE * 2, 2), (BASE * 2, 1), (BASE * 4, 2),        # 80x60, 40x30
            (BASE * 4, 1), (BASE * 4, 1), (BASE * 4, 1), None,                 # source 1: 40x30
            (BASE * 8, 2), (BASE * 8, 1), (BASE * 8, 1), None,                 # source 2: 20x15
            (BASE * 16, 2), (BASE * 16, 1), None]                              # source 3: 10x8
    sources = []
    for layer in plan:
        if layer is None:
            sources.append(x)
        else:
            x = depthwise_separable(b, x, *layer)
    x = b.relu(b.conv(x, BASE * 4, 1, bias=True))
    y = b.relu(b.conv(x, BASE * 4, 3, 2, groups=BASE * 4, bias=True))          # extras, source 4: 5x4
    sources.append(b.relu(b.conv(y, BASE * 16, 1, bias=True)))

    locs, confs = [], []
    for level, (src, mins) in enumerate(zip(sources, MIN_SIZES)):
        n = len(mins)
        cbias = np.tile(np.array(CONF_BIAS, np.float32), n)
        if level < len(sources) - 1:
            loc, conf = _separable_head(b, src, n * 4), _separable_head(b, src, n * 2, cbias)
        else:
            loc = b.conv(src, n * 4, 3, gain=1.0, bias=True)
            conf = b.conv(src, n * 2, 3, gain=1.0, bias_init=cbias)
        locs.append(flatten_head(b, loc, 4))
        confs.append(flatten_head(b, conf, 2))
    b.rename(b.concat(locs, axis=1), "loc")
    b.rename(b.softmax(b.concat(confs, axis=1), axis=-1), "conf")
    a = len(ssd_priors(WIDTH, HEIGHT, MIN_SIZES, STEPS))
    spec = ModelSpec(
        "detector", InputSpec("input", (1, 3, HEIGHT, WIDTH), "NCHW", (127.0,) * 3, (128.0,) * 3, "RGB"),
        (OutputSpec("loc", (1, a, 4)), OutputSpec("conf", (1, a, 2))),
        {"kind": "ssd", "loc": "loc", "conf": "conf", "conf_activation": "softmax", "face_class": 1,
         "variances": VARIANCES,
         "priors": {"min_sizes": MIN_SIZES, "steps": STEPS, "aspect_ratios": [1.0], "clip": True}},
        description="SSD face detector 320x240 (slim-320 layout, 4 heads, 4420 priors), seeded untrained "
                    "weights: boxes and scores are meaningless but well scaled")
    return b.finish([("loc", [1, a, 4]), ("conf", [1, a, 2])], spec.description), spec
