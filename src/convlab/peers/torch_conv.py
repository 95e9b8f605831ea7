"""PyTorch's CPU conv2d (oneDNN / its own kernels) on one shape, as a same-run peer."""
from __future__ import annotations

import numpy as np

from ..spec import ConvSpec


class TorchConv:
    """torch.nn.functional.conv2d + the activation, no grad, ``threads`` intra-op threads."""

    def __init__(self, spec: ConvSpec, w, b, input_shape, threads: int = 1):
        import torch
        import torch.nn.functional as F
        self.torch, self.threads = torch, threads
        t, l, bo, r = spec.padding
        self.pad = None if (t, l) == (bo, r) else (l, r, t, bo)   # asymmetric padding: explicit F.pad
        self.padding = (t, l) if self.pad is None else 0
        self.w = torch.from_numpy(np.ascontiguousarray(w))
        self.b = None if b is None else torch.from_numpy(np.ascontiguousarray(b))
        self.spec, self.F = spec, F
        a = spec.activation
        slopes = torch.from_numpy(a.slopes_for(spec.c_out))
        self.act = {"none": lambda y: y, "relu": F.relu, "relu6": F.relu6, "sigmoid": torch.sigmoid,
                    "hardswish": F.hardswish, "leaky_relu": lambda y: F.leaky_relu(y, a.alpha),
                    "prelu": lambda y: F.prelu(y, slopes)}[a.kind]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        torch, F, s = self.torch, self.F, self.spec
        old = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with torch.no_grad():
                xt = torch.from_numpy(x)
                if self.pad is not None:
                    xt = F.pad(xt, self.pad)
                y = F.conv2d(xt, self.w, self.b, stride=s.stride, padding=self.padding,
                             dilation=s.dilation, groups=s.groups)
                return self.act(y).numpy()
        finally:
            torch.set_num_threads(old)
