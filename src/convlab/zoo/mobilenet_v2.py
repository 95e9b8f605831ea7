"""MobileNetV2 (Sandler et al. 2018, Table 2), width 1.0, 224x224, 1000 classes: 3.4 M params, 300 M MACs."""
from __future__ import annotations

from .blocks import bottleneck_stage
from .graph import GraphBuilder
from .mobilenet_v1 import finish_classifier

# (expansion t, output channels c, repeats n, first stride s), Table 2.
BOTTLENECKS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def build(seed: int | list[int]):
    b = GraphBuilder("mobilenet_v2", seed, "input", (1, 3, 224, 224))
    x = b.conv_bn_act("input", 32, 3, 2, act="relu6")
    for row in BOTTLENECKS:
        x = bottleneck_stage(b, x, *row)
    x = b.conv_bn_act(x, 1280, 1, act="relu6")
    # The table's classifier is a 1x1 conv on the pooled 1x1x1280 map.
    b.rename(b.flatten(b.conv(b.global_avg_pool(x), 1000, 1, bias=True, gain=1.0)), "logits")
    return finish_classifier(b, "MobileNetV2 1.0-224")
