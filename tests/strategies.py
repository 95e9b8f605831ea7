"""Hypothesis strategies that draw convolutions a kernel claims to support (from its Constraints)."""
from __future__ import annotations

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from convlab.registry import Constraints, KernelEntry
from convlab.spec import ConvSpec

ACTIVATIONS = [None, "relu", "relu6", ("leaky_relu", 0.1), "prelu", "sigmoid", "hardswish"]
MAX_MACS = 4_000_000   # keeps the float64 reference fast enough for hundreds of examples


def _dim(draw, lo, hi):
    # Mostly small sizes (fast, and where edge handling lives), sometimes up to the full range.
    return draw(st.one_of(st.integers(lo, max(lo, min(hi, 12))), st.integers(lo, hi)))


def _choose(draw, allowed, fallback):
    return draw(st.sampled_from(sorted(allowed))) if allowed is not None else draw(fallback)


@st.composite
def conv_cases(draw, constraints: Constraints, max_channels=70, max_hw=70):
    """Returns (x, w, b, kwargs for conv2d, spec)."""
    kh, kw = _choose(draw, constraints.kernel_sizes, st.tuples(st.integers(1, 5), st.integers(1, 5)))
    stride = _choose(draw, constraints.strides, st.tuples(st.integers(1, 3), st.integers(1, 3)))
    dilation = _choose(draw, constraints.dilations, st.tuples(st.integers(1, 3), st.integers(1, 3)))
    if constraints.groups == "depthwise":
        c = _dim(draw, 1, max_channels)
        c_in = c_out = groups = c
    else:
        groups = 1 if constraints.groups == "one" else draw(st.sampled_from([1, 1, 2, 3, 4]))
        per_group = max(1, max_channels // groups)
        if constraints.max_c_in is not None:
            per_group = min(per_group, constraints.max_c_in)
        c_in = groups * _dim(draw, 1, per_group)
        c_out = groups * _dim(draw, 1, max(1, max_channels // groups))
    padding = draw(st.one_of(st.integers(0, 2), st.tuples(*[st.integers(0, 3)] * 4)))
    n = draw(st.integers(1, 3))
    pads = (padding,) * 4 if isinstance(padding, int) else padding
    min_h = max(1, dilation[0] * (kh - 1) + 1 - pads[0] - pads[2])
    min_w = max(1, dilation[1] * (kw - 1) + 1 - pads[1] - pads[3])
    assume(min_h <= max_hw and min_w <= max_hw)
    h, w = _dim(draw, min_h, max_hw), _dim(draw, min_w, max_hw)
    act = draw(st.sampled_from(ACTIVATIONS))
    if act == "prelu":
        act = ("prelu", draw(st.sampled_from([0.25, -0.5, 2.0])) * np.linspace(-1, 1, c_out).astype(np.float32))
    spec = ConvSpec.build(c_in, c_out, kh, kw, stride=stride, padding=padding, dilation=dilation,
                          groups=groups, activation=act, has_bias=True)
    assume(spec.flops(n, h, w) // 2 <= MAX_MACS)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in, h, w), dtype=np.float32)
    wt = (rng.standard_normal(spec.weight_shape, dtype=np.float32) / np.sqrt(kh * kw * c_in / groups)).astype(np.float32)
    b = draw(st.sampled_from([None, "rand"]))
    b = rng.standard_normal(c_out, dtype=np.float32) if b else None
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, activation=act)
    return x, wt, b, kwargs, ConvSpec.build(c_in, c_out, kh, kw, stride=stride, padding=padding,
                                            dilation=dilation, groups=groups, activation=act,
                                            has_bias=b is not None)


def kernel_id(e: KernelEntry) -> str:
    return e.name
