"""The kernel registry: one list of every (algo, backend) pair and what each supports.

Tests, benchmarks, sweeps and algo="auto" all read this list, so adding a kernel here is the only
step needed for it to be tested against the reference, benchmarked and considered by auto.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from .errors import ConvInputError, UnsupportedConvError
from .spec import ConvSpec

# run(x, out): x is C-contiguous float32 NCHW, out is C-contiguous float32 (N, C_out, OH, OW).
RunFn = Callable[[np.ndarray, np.ndarray], None]
# prepare(spec, w, b, threads) -> run. Does everything that depends only on the weights.
PrepareFn = Callable[[ConvSpec, np.ndarray, "np.ndarray | None", int], RunFn]


@dataclass(frozen=True)
class Constraints:
    """What a kernel supports; None means any value."""
    kernel_sizes: frozenset | None = None      # {(kh, kw), ...}
    strides: frozenset | None = None           # {(sh, sw), ...}
    dilations: frozenset | None = None         # {(dh, dw), ...}
    groups: str = "any"                        # "any" | "one" | "depthwise" (groups == C_in == C_out)
    max_c_in: int | None = None                # input channels per group at most (a stem kernel)

    def violation(self, spec: ConvSpec) -> tuple[str, str] | None:
        if self.kernel_sizes is not None and spec.kernel_size not in self.kernel_sizes:
            return "kernel_size", f"{spec.kh}x{spec.kw} not in {_fmt(self.kernel_sizes)}"
        if self.strides is not None and spec.stride not in self.strides:
            return "stride", f"{spec.stride} not in {_fmt(self.strides)}"
        if self.dilations is not None and spec.dilation not in self.dilations:
            return "dilation", f"{spec.dilation} not in {_fmt(self.dilations)}"
        if self.groups == "one" and spec.groups != 1:
            return "groups", f"groups={spec.groups}, only groups=1 is supported"
        if self.groups == "depthwise" and not spec.is_depthwise:
            return "groups", (f"groups={spec.groups}, C_in={spec.c_in}, C_out={spec.c_out}: "
                              "only depthwise (groups == C_in == C_out) is supported")
        if self.max_c_in is not None and spec.c_in // spec.groups > self.max_c_in:
            return "c_in", f"{spec.c_in // spec.groups} input channels per group, at most {self.max_c_in} supported"
        return None

    def describe(self) -> str:
        parts = [f"k={_fmt(self.kernel_sizes)}" if self.kernel_sizes else "k=any",
                 f"stride={_fmt(self.strides)}" if self.strides else "stride=any",
                 f"dilation={_fmt(self.dilations)}" if self.dilations else "dilation=any",
                 f"groups={self.groups}"] + ([f"c_in<={self.max_c_in}"] if self.max_c_in is not None else [])
        return ", ".join(parts)


def _fmt(pairs: Iterable) -> str:
    return "{" + ", ".join(f"{a}x{b}" if isinstance(a, int) else str(a) for a, b in sorted(pairs)) + "}"


def pairs(*values: int) -> frozenset:
    """pairs(1, 2) -> {(1, 1), (2, 2)}: the square cases, the common way to state a constraint."""
    return frozenset((v, v) for v in values)


@dataclass(frozen=True)
class KernelEntry:
    algo: str
    backend: str
    prepare: PrepareFn
    constraints: Constraints
    description: str
    # Bound on |y - y_exact| / (|w| * |x| conv + |b|), elementwise, in units of float32 epsilon
    # times the reduction length: see tests/conv_oracle.py for how it is applied and why.
    error_factor: float = 1.0
    # Returns None when the kernel can run here, else the reason it cannot (e.g. extension not built).
    unavailable: Callable[[], "str | None"] = field(default=lambda: None)
    # The ops of the C kernel table (csrc/include/cl_kernels.h, convlab.kernels.c.kernel_table) this
    # kernel runs: code compiled per instruction set, which the tests run under every ISA the CPU has.
    table_ops: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.algo}/{self.backend}"

    def check(self, spec: ConvSpec) -> None:
        v = self.constraints.violation(spec)
        if v is not None:
            raise UnsupportedConvError(self.name, *v)

    def supports(self, spec: ConvSpec) -> bool:
        return self.constraints.violation(spec) is None


_REGISTRY: dict[tuple[str, str], KernelEntry] = {}

# The one default backend of the API (conv2d, prepare_conv) and of every command: the fastest.
# Read through default_backend(), which falls back to FALLBACK_BACKEND when the C extension is not built.
DEFAULT_BACKEND = "c"
FALLBACK_BACKEND = "numba"
_noted = False


def default_backend() -> str:
    """DEFAULT_BACKEND when its kernels can run here, else FALLBACK_BACKEND with a one-line note on stderr."""
    global _noted
    _load_kernels()
    ok = any(e.unavailable() is None for e in _REGISTRY.values() if e.backend == DEFAULT_BACKEND)
    if ok:
        return DEFAULT_BACKEND
    if not _noted:
        _noted = True
        import sys
        print(f"convlab: note: the {DEFAULT_BACKEND} kernels are not built here; using the {FALLBACK_BACKEND} "
              "backend (build them: pip install -e . with a C compiler)", file=sys.stderr)
    return FALLBACK_BACKEND


def resolve_backend(backend: str | None) -> str:
    """None -> default_backend(); anything else unchanged."""
    return default_backend() if backend is None else backend


def register(entry: KernelEntry) -> KernelEntry:
    key = (entry.algo, entry.backend)
    if key in _REGISTRY:
        raise RuntimeError(f"kernel {entry.name} registered twice")
    _REGISTRY[key] = entry
    return entry


def entries(backend: str | None = None, available_only: bool = False) -> list[KernelEntry]:
    _load_kernels()
    out = [e for e in _REGISTRY.values() if backend is None or e.backend == backend]
    if available_only:
        out = [e for e in out if e.unavailable() is None]
    return out


def backends() -> list[str]:
    _load_kernels()
    return sorted({e.backend for e in _REGISTRY.values()})


def get(algo: str, backend: str) -> KernelEntry:
    _load_kernels()
    e = _REGISTRY.get((algo, backend))
    if e is None:
        have = sorted(b for a, b in _REGISTRY if a == algo)
        if have:
            raise ConvInputError(f"kernel {algo!r} has no {backend!r} backend; it exists for: {', '.join(have)}")
        algos = sorted({a for a, _ in _REGISTRY})
        raise ConvInputError(f"unknown kernel {algo!r}; known: {', '.join(algos)}")
    return e


_loaded = False


def _load_kernels() -> None:
    # Kernel modules register themselves on import; importing them lazily keeps `import convlab`
    # cheap and avoids import cycles (kernels import this module).
    global _loaded
    if not _loaded:
        _loaded = True
        from . import kernels  # noqa: F401
