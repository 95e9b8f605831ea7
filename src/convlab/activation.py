"""Activations a conv kernel applies in its epilogue, while the output is still in registers.

Leaky ReLU and PReLU share one epilogue (a per-output-channel negative slope): leaky is a PReLU
whose slopes are all alpha. That keeps every kernel's epilogue to six cases.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import ConvInputError

# Epilogue codes shared by the Numba kernels and the C kernels (csrc/ uses the same numbers).
ACT_NONE, ACT_RELU, ACT_RELU6, ACT_PRELU, ACT_SIGMOID, ACT_HARDSWISH = range(6)

KINDS = ("none", "relu", "relu6", "leaky_relu", "prelu", "sigmoid", "hardswish")
_CODES = {"none": ACT_NONE, "relu": ACT_RELU, "relu6": ACT_RELU6, "leaky_relu": ACT_PRELU,
          "prelu": ACT_PRELU, "sigmoid": ACT_SIGMOID, "hardswish": ACT_HARDSWISH}


@dataclass(frozen=True, eq=False)
class Activation:
    kind: str = "none"
    alpha: float = 0.01                         # leaky_relu slope
    slopes: np.ndarray | None = field(default=None, repr=False)  # prelu, per channel or one value

    @property
    def code(self) -> int:
        return _CODES[self.kind]

    def slopes_for(self, channels: int) -> np.ndarray:
        """The per-channel negative slopes the epilogue multiplies by (zeros when unused)."""
        if self.kind == "leaky_relu":
            return np.full(channels, self.alpha, np.float32)
        if self.kind == "prelu":
            s = np.asarray(self.slopes, np.float32).reshape(-1)
            if s.size == 1:
                return np.full(channels, s[0], np.float32)
            if s.size != channels:
                raise ConvInputError(f"prelu has {s.size} slopes but the conv has {channels} output channels")
            return np.ascontiguousarray(s)
        return np.zeros(channels, np.float32)

    def __call__(self, y: np.ndarray, channel_axis: int = 1) -> np.ndarray:
        """Reference (NumPy) application, in whatever precision y has."""
        k = self.kind
        if k == "none":
            return y
        if k == "relu":
            return np.maximum(y, 0)
        if k == "relu6":
            return np.clip(y, 0, 6)
        if k == "sigmoid":
            return 1 / (1 + np.exp(-y))
        if k == "hardswish":
            return y * np.clip(y + 3, 0, 6) / 6
        shape = [1] * y.ndim
        shape[channel_axis] = y.shape[channel_axis]
        s = self.slopes_for(y.shape[channel_axis]).astype(y.dtype).reshape(shape)
        return np.where(y >= 0, y, y * s)

    def __repr__(self) -> str:
        if self.kind == "leaky_relu":
            return f"leaky_relu({self.alpha})"
        return self.kind


def parse_activation(act) -> Activation:
    """Accepts None, a name, ("leaky_relu", alpha), ("prelu", slopes) or an Activation."""
    if act is None:
        return Activation()
    if isinstance(act, Activation):
        return act
    if isinstance(act, str):
        name, arg = act, None
    elif isinstance(act, (tuple, list)) and len(act) == 2 and isinstance(act[0], str):
        name, arg = act
    else:
        raise ConvInputError(f"activation must be None, a name or (name, parameter); got {act!r}")
    name = name.lower().replace("-", "_")
    if name in ("leaky", "leakyrelu"):
        name = "leaky_relu"
    if name not in KINDS:
        raise ConvInputError(f"unknown activation {name!r}; supported: {', '.join(KINDS)}")
    if name == "leaky_relu":
        if arg is not None and (isinstance(arg, (bool, np.bool_, str, bytes))
                                or not isinstance(arg, (int, float, np.integer, np.floating))):
            raise ConvInputError(f"leaky_relu alpha must be a number, got {type(arg).__name__} {arg!r}")
        alpha = 0.01 if arg is None else float(arg)
        if not np.isfinite(alpha):
            raise ConvInputError(f"leaky_relu alpha must be finite, got {alpha}")
        return Activation("leaky_relu", alpha=alpha)
    if name == "prelu":
        if arg is None:
            raise ConvInputError("prelu needs its slopes: activation=('prelu', slopes)")
        try:
            slopes = np.asarray(arg, np.float32).reshape(-1)
        except (TypeError, ValueError):
            raise ConvInputError(f"prelu slopes must be numbers, got {arg!r}") from None
        if not np.isfinite(slopes).all():
            raise ConvInputError("prelu slopes must be finite")
        return Activation("prelu", slopes=slopes)
    if arg is not None:
        raise ConvInputError(f"activation {name!r} takes no parameter, got {arg!r}")
    return Activation(name)
