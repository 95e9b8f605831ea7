"""Face template extractor: MobileFaceNet (Chen et al. 2018, Table 1), 112x112 -> 128-d.

Bottlenecks with PReLU, a 512-channel 1x1 conv, the linear global depthwise conv (7x7 over the
whole 7x7 map, the paper's replacement for global average pooling) and a linear 1x1 conv to the
128-d template: 0.99 M params, 221 M MACs. The template is not L2-normalised in the graph (the
spec says `normalize: l2`; the caller does it before comparing templates).
"""
from __future__ import annotations

from .blocks import bottleneck_stage
from .graph import GraphBuilder
from .spec import InputSpec, ModelSpec, OutputSpec

SIZE = 112
DIM = 128
BOTTLENECKS = [(2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1)]


def build(seed: int | list[int]):
    b = GraphBuilder("extractor", seed, "input", (1, 3, SIZE, SIZE))
    x = b.conv_bn_act("input", 64, 3, 2, act="prelu")
    x = b.conv_bn_act(x, 64, 3, 1, groups=64, act="prelu")
    for row in BOTTLENECKS:
        x = bottleneck_stage(b, x, *row, act="prelu")
    x = b.conv_bn_act(x, 512, 1, act="prelu")
    x = b.conv_bn_act(x, 512, 7, 1, groups=512, act=None, pad=0)          # linear GDConv
    x = b.conv_bn_act(x, DIM, 1, act=None)
    b.rename(b.flatten(x), "embedding")
    spec = ModelSpec(
        "extractor", InputSpec("input", (1, 3, SIZE, SIZE), "NCHW", (127.5,) * 3, (128.0,) * 3, "RGB"),
        (OutputSpec("embedding", (1, DIM)),),
        {"kind": "embedding", "output": "embedding", "dim": DIM, "normalize": "l2"},
        description="MobileFaceNet 112x112 -> 128-d template; seeded untrained weights (templates are "
                    "meaningless but well scaled)")
    return b.finish([("embedding", [1, DIM])], spec.description), spec
