"""MobileNetV1 (Howard et al. 2017, Table 1), width 1.0, 224x224, 1000 classes: 4.2 M params, 569 M MACs."""
from __future__ import annotations

from .blocks import depthwise_separable
from .graph import GraphBuilder
from .spec import InputSpec, ModelSpec, OutputSpec

# (pointwise output channels, depthwise stride) after the first 3x3/s2 conv. The table's last
# depthwise layer says s2 but its output stays 7x7: every implementation uses s1 there.
LAYERS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def build(seed: int | list[int]):
    b = GraphBuilder("mobilenet_v1", seed, "input", (1, 3, 224, 224))
    x = b.conv_bn_act("input", 32, 3, 2)
    for c, s in LAYERS:
        x = depthwise_separable(b, x, c, s)
    b.rename(b.gemm(b.flatten(b.global_avg_pool(x)), 1000), "logits")
    return finish_classifier(b, "MobileNetV1 1.0-224")


def finish_classifier(b: GraphBuilder, title: str):
    """The model and spec of a 224x224 ImageNet classifier whose graph ends in `logits`."""
    spec = ModelSpec(b.name, InputSpec("input", (1, 3, 224, 224), "NCHW", IMAGENET_MEAN, IMAGENET_STD, "RGB"),
                     (OutputSpec("logits", (1, 1000)),),
                     {"kind": "classification", "output": "logits", "classes": 1000, "activation": "logits"},
                     description=f"{title}, seeded untrained weights (outputs are meaningless but well scaled)")
    return b.finish([("logits", [1, 1000])], spec.description), spec
