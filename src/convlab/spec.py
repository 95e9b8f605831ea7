"""ConvSpec: one convolution's parameters, validated and normalised once.

Every kernel receives a ConvSpec, never raw user arguments, so a kernel can trust its inputs and
the checks live in one place.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activation import Activation, parse_activation
from .errors import ConvInputError

_INT_MAX = 2**31 - 1   # the C kernels index planes and pass sizes as int


def is_int(v) -> bool:
    """A real integer: Python int or NumPy integer, not bool (True is not a stride), not float or str."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _ints(name: str, v, what: str) -> tuple[int, ...]:
    """v as a tuple of ints, refusing anything that int() would coerce: "12" -> (1, 2) as a sequence
    of characters, 1.7 -> 1, True -> 1 are silent wrong answers, so each is a ConvInputError."""
    if is_int(v):
        return (int(v),)
    if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
        raise ConvInputError(f"{name} must be {what}, got {type(v).__name__} {v!r}")
    items = tuple(v.tolist() if isinstance(v, np.ndarray) else v)
    bad = [t for t in items if not is_int(t)]
    if bad:
        raise ConvInputError(f"{name} must be {what}, got {v!r} ({type(bad[0]).__name__} {bad[0]!r} is not an int)")
    return tuple(int(t) for t in items)


def _pair(name: str, v) -> tuple[int, int]:
    t = _ints(name, v, "an int or a pair of ints")
    if is_int(v):
        t = t * 2
    if len(t) != 2:
        raise ConvInputError(f"{name} must be an int or a pair of ints, got {len(t)} values: {v!r}")
    return t  # type: ignore[return-value]


def normalise_padding(padding) -> tuple[int, int, int, int]:
    """int, (ph, pw) or ONNX-style (top, left, bottom, right) -> (top, left, bottom, right)."""
    p = _ints("padding", padding, "an int, (ph, pw) or (top, left, bottom, right)")
    if is_int(padding):
        p = p * 4
    else:
        if len(p) == 2:
            p = (p[0], p[1], p[0], p[1])
        elif len(p) != 4:
            raise ConvInputError(f"padding must have 1, 2 or 4 values, got {len(p)}: {padding!r}")
    if min(p) < 0:
        raise ConvInputError(f"padding must be non-negative, got {p}")
    return p  # type: ignore[return-value]


@dataclass(frozen=True)
class ConvSpec:
    c_in: int
    c_out: int
    kh: int
    kw: int
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)   # top, left, bottom, right
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    activation: Activation = Activation()
    has_bias: bool = False

    @classmethod
    def build(cls, c_in, c_out, kh, kw, *, stride=1, padding=0, dilation=1, groups=1,
              activation=None, has_bias=False) -> "ConvSpec":
        stride, dilation = _pair("stride", stride), _pair("dilation", dilation)
        padding = normalise_padding(padding)
        for name, v in (("input channels", c_in), ("output channels", c_out), ("kernel height", kh),
                        ("kernel width", kw), ("groups", groups)):
            if not is_int(v):
                raise ConvInputError(f"{name} must be an int, got {type(v).__name__} {v!r}")
            if int(v) < 1:
                raise ConvInputError(f"{name} must be >= 1, got {v}")
        if min(stride) < 1:
            raise ConvInputError(f"stride must be >= 1, got {stride}")
        if min(dilation) < 1:
            raise ConvInputError(f"dilation must be >= 1, got {dilation}")
        if max(*stride, *dilation, *padding) > _INT_MAX:
            raise ConvInputError(f"stride, dilation and padding must be below 2**31 (the C kernels' int), "
                                 f"got stride {stride}, dilation {dilation}, padding {padding}")
        if c_in % groups or c_out % groups:
            raise ConvInputError(f"groups={groups} must divide both input channels ({c_in}) "
                                 f"and output channels ({c_out})")
        return cls(int(c_in), int(c_out), int(kh), int(kw), stride, padding, dilation, int(groups),
                   parse_activation(activation), bool(has_bias))

    @property
    def kernel_size(self) -> tuple[int, int]:
        return self.kh, self.kw

    @property
    def is_depthwise(self) -> bool:
        return self.groups == self.c_in == self.c_out

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return self.c_out, self.c_in // self.groups, self.kh, self.kw

    def output_hw(self, h: int, w: int) -> tuple[int, int]:
        (t, l, b, r), (sh, sw), (dh, dw) = self.padding, self.stride, self.dilation
        oh = (h + t + b - dh * (self.kh - 1) - 1) // sh + 1
        ow = (w + l + r - dw * (self.kw - 1) - 1) // sw + 1
        if oh < 1 or ow < 1:
            raise ConvInputError(
                f"output would be {oh}x{ow}: input {h}x{w} with padding {self.padding} is smaller than the "
                f"dilated {self.kh}x{self.kw} kernel (dilation {self.dilation})")
        if max(h + t + b, w + l + r) > _INT_MAX or oh * ow > _INT_MAX:
            raise ConvInputError(
                f"output would be {oh}x{ow} (input {h}x{w}, padding {self.padding}): a padded input side or an "
                f"output plane above 2**31-1 elements is more than any kernel indexes")
        return oh, ow

    def flops(self, n: int, h: int, w: int) -> int:
        """Direct-convolution FLOPs (2 per multiply-add), the common yardstick for every algorithm."""
        oh, ow = self.output_hw(h, w)
        return 2 * n * self.c_out * oh * ow * (self.c_in // self.groups) * self.kh * self.kw

    def describe(self) -> str:
        s = f"{self.c_in}->{self.c_out} {self.kh}x{self.kw}"
        if self.stride != (1, 1):
            s += f" s{self.stride[0]}" if self.stride[0] == self.stride[1] else f" s{self.stride}"
        if any(self.padding):
            s += f" p{self.padding}"
        if self.dilation != (1, 1):
            s += f" d{self.dilation}"
        if self.groups > 1:
            s += f" g{self.groups}"
        if self.activation.kind != "none":
            s += f" +{self.activation!r}"
        return s


def check_input(spec: ConvSpec, x) -> np.ndarray:
    """Validate an NCHW input against a spec. Returns a C-contiguous float32 view or copy.

    Non-contiguous float32 arrays are copied (documented behaviour); other dtypes are rejected
    rather than silently converted, because a float64 or integer input usually means a bug upstream.
    """
    if not isinstance(x, np.ndarray):
        raise ConvInputError(f"input must be a numpy array, got {type(x).__name__}")
    if x.dtype != np.float32:
        raise ConvInputError(f"input must be float32, got {x.dtype}")
    if x.ndim != 4:
        raise ConvInputError(f"input must be NCHW (rank 4), got rank {x.ndim} with shape {x.shape}")
    n, c, h, w = x.shape
    if n < 1 or h < 1 or w < 1:
        raise ConvInputError(f"input has an empty dimension: shape {x.shape}")
    if c != spec.c_in:
        raise ConvInputError(f"input has {c} channels but the weights expect {spec.c_in} "
                             f"({spec.c_in // spec.groups} per group x {spec.groups} groups)")
    spec.output_hw(h, w)
    return np.ascontiguousarray(x)


def check_weights(w, b, groups: int) -> tuple[np.ndarray, np.ndarray | None]:
    for name, a, rank in (("weights", w, 4), ("bias", b, 1)):
        if a is None and name == "bias":
            continue
        if not isinstance(a, np.ndarray):
            raise ConvInputError(f"{name} must be a numpy array, got {type(a).__name__}")
        if a.dtype != np.float32:
            raise ConvInputError(f"{name} must be float32, got {a.dtype}")
        if a.ndim != rank:
            raise ConvInputError(f"{name} must have rank {rank}, got shape {a.shape}")
    if min(w.shape) < 1:
        raise ConvInputError(f"weights have an empty dimension: shape {w.shape}")
    if b is not None and b.shape[0] != w.shape[0]:
        raise ConvInputError(f"bias has {b.shape[0]} values but weights have {w.shape[0]} output channels")
    if groups < 1 or w.shape[0] % groups:
        raise ConvInputError(f"groups={groups} must divide the {w.shape[0]} output channels")
    return np.ascontiguousarray(w), (None if b is None else np.ascontiguousarray(b))


def resolve_auto_pad(auto_pad: str, pads, in_hw, kernel, stride, dilation) -> tuple[int, int, int, int]:
    """ONNX Conv's auto_pad (NOTSET, VALID, SAME_UPPER, SAME_LOWER) -> explicit (top, left, bottom, right)."""
    auto_pad = (auto_pad or "NOTSET").upper()
    if auto_pad == "NOTSET":
        pads = list(pads) if pads else [0, 0, 0, 0]
        if len(pads) != 4:
            raise ConvInputError(f"2D Conv needs 4 pads (top, left, bottom, right), got {pads}")
        return pads[0], pads[1], pads[2], pads[3]
    if auto_pad == "VALID":
        return 0, 0, 0, 0
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        raise ConvInputError(f"unknown auto_pad {auto_pad!r}")
    begin, end = [], []
    for size, k, s, d in zip(in_hw, kernel, stride, dilation):
        out = -(-size // s)
        total = max(0, (out - 1) * s + d * (k - 1) + 1 - size)
        small, large = total // 2, total - total // 2
        begin.append(small if auto_pad == "SAME_UPPER" else large)
        end.append(large if auto_pad == "SAME_UPPER" else small)
    return begin[0], begin[1], end[0], end[1]
