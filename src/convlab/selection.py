"""algo="auto": which kernel to use for a given conv shape.

The built-in rule is a hand-written first guess from the LINE DevDay 2019 sweeps (Winograd for
3x3 when channels and maps are mid-sized, GEMM otherwise). Measured decision tables replace it.
"""
from __future__ import annotations

from . import registry
from .errors import UnsupportedConvError
from .spec import ConvSpec


def builtin_rule(spec: ConvSpec, h: int, w: int, backend: str) -> list[str]:
    """Algorithms in order of preference; the first one the backend has and supports wins."""
    prefs = []
    if spec.is_depthwise and spec.groups > 1:
        prefs.append("depthwise")
    if spec.kernel_size == (3, 3) and spec.stride == (1, 1) and spec.dilation == (1, 1) and spec.groups == 1:
        if min(spec.c_in, spec.c_out) >= 16 and min(h, w) >= 8:
            prefs += ["winograd_f63", "winograd_f43", "winograd_f23"]
    prefs += ["im2col", "direct"]
    return prefs


def choose_algo(spec: ConvSpec, h: int, w: int, backend: str) -> str:
    for algo in builtin_rule(spec, h, w, backend):
        try:
            e = registry.get(algo, backend)
        except ValueError:
            continue
        if e.supports(spec) and e.unavailable() is None:
            return algo
    for e in registry.entries(backend, available_only=True):
        if e.supports(spec) and e.algo != "reference":
            return e.algo
    raise UnsupportedConvError(f"auto/{backend}", "no kernel", f"no {backend} kernel supports {spec.describe()}")
