"""Building blocks shared by the zoo architectures (MobileNet V1/V2 papers' definitions)."""
from __future__ import annotations

from .graph import GraphBuilder


def depthwise_separable(b: GraphBuilder, x: str, c_out: int, stride: int, act: str = "relu") -> str:
    """MobileNetV1: 3x3 depthwise + BN + act, then 1x1 pointwise + BN + act."""
    x = b.conv_bn_act(x, b.channels[x], 3, stride, groups=b.channels[x], act=act)
    return b.conv_bn_act(x, c_out, 1, act=act)


def inverted_residual(b: GraphBuilder, x: str, c_out: int, expansion: int, stride: int,
                      act: str = "relu6") -> str:
    """MobileNetV2 bottleneck: 1x1 expand + act (skipped when t = 1), 3x3 depthwise + act, linear
    1x1 projection; identity shortcut when the shape is unchanged."""
    c_in = b.channels[x]
    y = x if expansion == 1 else b.conv_bn_act(x, c_in * expansion, 1, act=act)
    y = b.conv_bn_act(y, b.channels[y], 3, stride, groups=b.channels[y], act=act)
    y = b.conv_bn_act(y, c_out, 1, act=None)
    return b.add(x, y) if stride == 1 and c_in == c_out else y


def bottleneck_stage(b: GraphBuilder, x: str, t: int, c: int, n: int, s: int, act: str = "relu6") -> str:
    """One row (t, c, n, s) of a MobileNetV2-style table: n blocks, the first with stride s."""
    for i in range(n):
        x = inverted_residual(b, x, c, t, s if i == 0 else 1, act)
    return x
