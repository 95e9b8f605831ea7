"""FaceBoxes (Zhang et al. 2017), the CPU face detector the LINE study benchmarked at 320x240.

Rapidly Digested Convolutional Layers (7x7/s4 and 5x5/s2 convs with C.ReLU, each followed by a
3x3/s2 max pool: stride 32 in four layers), three Inception modules, two stride-2 conv pairs, and
heads on the stride 32, 64 and 128 maps. The 32- and 64-px anchors of the first head are
densified 4x4 and 2x2 times per cell (21 anchors per cell), so a 320x240 input has
8*10*21 + 4*5 + 2*3 = 1706 priors. Input is BGR with the Caffe means and no scaling, like the
reference implementation. Outputs as the SSD detector: `loc` offsets, `conf` softmax (class 1 =
face), same background-prior bias. Not exported by default: the five-model set uses `detector`.
"""
from __future__ import annotations

import numpy as np

from ..postprocess.priors import ssd_priors
from .face_detector import CONF_BIAS, VARIANCES, flatten_head
from .graph import GraphBuilder
from .spec import InputSpec, ModelSpec, OutputSpec

WIDTH, HEIGHT = 320, 240
MIN_SIZES = [[32, 64, 128], [256], [512]]
DENSITIES = [[4, 2, 1], [1], [1]]
STEPS = [32, 64, 128]


def _crelu(b: GraphBuilder, x: str, c: int, k: int, stride: int) -> str:
    """C.ReLU: conv + BN, then ReLU of [x, -x]: twice the channels for the cost of one conv."""
    y = b.bn(b.conv(x, c, k, stride))
    return b.relu(b.concat([y, b.neg(y)]))


def _inception(b: GraphBuilder, x: str) -> str:
    """128 -> 128: 1x1 | avgpool + 1x1 | 1x1 + 3x3 | 1x1 + 3x3 + 3x3, 32 channels each."""
    b1 = b.conv_bn_act(x, 32, 1)
    b2 = b.conv_bn_act(b.avg_pool(x, 3, 1, 1), 32, 1)
    b3 = b.conv_bn_act(b.conv_bn_act(x, 24, 1), 32, 3)
    b4 = b.conv_bn_act(b.conv_bn_act(b.conv_bn_act(x, 24, 1), 32, 3), 32, 3)
    return b.concat([b1, b2, b3, b4])


def build(seed: int | list[int]):
    b = GraphBuilder("faceboxes", seed, "input", (1, 3, HEIGHT, WIDTH))
    x = b.max_pool(_crelu(b, "input", 24, 7, 4), 3, 2, 1)
    x = b.max_pool(_crelu(b, x, 64, 5, 2), 3, 2, 1)
    for _ in range(3):
        x = _inception(b, x)
    s1 = x
    s2 = b.conv_bn_act(b.conv_bn_act(s1, 128, 1), 256, 3, 2)
    s3 = b.conv_bn_act(b.conv_bn_act(s2, 128, 1), 256, 3, 2)
    locs, confs = [], []
    for src, mins, dens in zip([s1, s2, s3], MIN_SIZES, DENSITIES):
        n = sum(d * d for d in dens)
        locs.append(flatten_head(b, b.conv(src, n * 4, 3, gain=1.0, bias=True), 4))
        confs.append(flatten_head(b, b.conv(src, n * 2, 3, gain=1.0, bias_init=np.tile(np.float32(CONF_BIAS), n)), 2))
    b.rename(b.concat(locs, axis=1), "loc")
    b.rename(b.softmax(b.concat(confs, axis=1), axis=-1), "conf")
    a = len(ssd_priors(WIDTH, HEIGHT, MIN_SIZES, STEPS, densities=DENSITIES))
    spec = ModelSpec(
        "faceboxes", InputSpec("input", (1, 3, HEIGHT, WIDTH), "NCHW", (104.0, 117.0, 123.0), (1.0,) * 3, "BGR"),
        (OutputSpec("loc", (1, a, 4)), OutputSpec("conf", (1, a, 2))),
        {"kind": "ssd", "loc": "loc", "conf": "conf", "conf_activation": "softmax", "face_class": 1,
         "variances": VARIANCES,
         "priors": {"min_sizes": MIN_SIZES, "steps": STEPS, "aspect_ratios": [1.0], "clip": False,
                    "densities": DENSITIES}},
        description="FaceBoxes 320x240 (RDCL + 3 Inception + 2 conv pairs, densified anchors, 1706 priors), "
                    "seeded untrained weights: boxes and scores are meaningless but well scaled")
    return b.finish([("loc", [1, a, 4]), ("conf", [1, a, 2])], spec.description), spec
