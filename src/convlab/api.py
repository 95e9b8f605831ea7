"""The public conv API: prepare once per layer, run per input."""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from . import registry
from .errors import ConvInputError
from .selection import choose_algo, choose_algo_explained
from .spec import ConvSpec, check_input, check_weights


def check_out(out, shape, x) -> None:
    """Validate a caller's ``out=`` buffer before any kernel writes through a raw pointer into it.

    A read-only buffer (a read-only np.memmap, np.frombuffer of bytes) would be written anyway by the
    C kernels (a segfault, or a silently modified immutable object). An ``out`` overlapping the input
    is refused rather than computed into a temporary: every kernel reads input pixels after it has
    written outputs, so in place is never what the kernel can do, and a hidden copy of a large
    activation would only hide the caller's bug. Both arrays are C-contiguous here, so
    may_share_memory's bounds test is exact.
    """
    if not isinstance(out, np.ndarray):
        raise ConvInputError(f"out must be a numpy array, got {type(out).__name__}")
    if out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ConvInputError(f"out must be a C-contiguous float32 array of shape {shape}, "
                             f"got {out.dtype} {out.shape}{'' if out.flags.c_contiguous else ' (not C-contiguous)'}")
    if not out.flags.writeable:
        raise ConvInputError("out is read-only (a read-only memmap, np.frombuffer of bytes, or "
                             "flags.writeable=False): pass a writable array or out=None")
    if np.may_share_memory(out, x):
        raise ConvInputError("out overlaps the input: a convolution cannot be computed in place; "
                             "pass a separate output array (or out=None)")


def check_memory(x_shape, out_shape, spec: ConvSpec, algo: str) -> None:
    """Refuse an output (plus, for im2col, the column buffer of one image) that cannot fit in the
    memory available, before allocating it: a refusal with the figures, not the OOM killer."""
    from .memory import ensure_fits
    n, c, h, w = x_shape
    oh, ow = out_shape[2], out_shape[3]
    out_bytes = 4 * int(np.prod(out_shape, dtype=np.int64))
    cols = 4 * (c // spec.groups) * spec.kh * spec.kw * oh * ow if algo.startswith("im2col") else 0
    ensure_fits(out_bytes + cols, f"conv {spec.describe()} on a {n}x{c}x{h}x{w} input",
                error=ConvInputError, what="output and scratch memory")


MAX_THREADS = 1024   # the C kernels pass threads as int to OpenMP; more than this is a mistake


class ConvPlan:
    """A convolution bound to its weights and one kernel. Call it with NCHW float32 inputs.

    ``prepare_seconds`` is the one-off cost (weight transforms, packing) that benchmarks report
    separately from the per-input ``run`` time. ``ConvPlan.from_spec`` is the one way in for code
    that already holds a ConvSpec (engine, sweeps, regress, bench); ``prepare_conv`` for keywords.
    """

    @classmethod
    def from_spec(cls, spec: ConvSpec, w: np.ndarray, b: np.ndarray | None = None, *, algo: str = "auto",
                  backend: str | None = None, threads: int = 1,
                  input_hw: tuple[int, int] | None = None) -> "ConvPlan | AutoPlan":
        """Bind weights to a kernel for `spec`: checks the weights against the spec, the thread count,
        the kernel's constraints and that it can run here. ``input_hw`` lets algo="auto" decide now
        instead of per input (an AutoPlan)."""
        if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 1 <= threads <= MAX_THREADS:
            raise ConvInputError(f"threads must be an int from 1 to {MAX_THREADS}, got {threads!r}")
        backend = registry.resolve_backend(backend)
        w, b = check_weights(w, b, spec.groups)
        if w.shape != spec.weight_shape:
            raise ConvInputError(f"weights of shape {w.shape} do not fit {spec.describe()} "
                                 f"(expects {spec.weight_shape})")
        if (b is not None) != spec.has_bias:
            raise ConvInputError(f"{spec.describe()} {'expects' if spec.has_bias else 'has no'} bias, "
                                 f"got {'none' if b is None else 'one'}")
        spec.activation.slopes_for(spec.c_out)  # validates prelu slope count now, not mid-run
        if algo == "auto":
            if backend not in registry.backends():
                raise ConvInputError(f"unknown backend {backend!r}; known: {', '.join(registry.backends())}")
            if input_hw is None:
                return AutoPlan(spec, backend, w, b, int(threads))
            algo, how = choose_algo_explained(spec, *input_hw, backend, int(threads))
            plan = cls(spec, registry.get(algo, backend), w, b, int(threads))
            plan.choice = how
            return plan
        return cls(spec, registry.get(algo, backend), w, b, int(threads))

    def __init__(self, spec: ConvSpec, entry: registry.KernelEntry, w: np.ndarray, b, threads: int):
        entry.check(spec)
        reason = entry.unavailable()
        if reason is not None:
            raise ConvInputError(f"kernel {entry.name} cannot run here: {reason}")
        self.spec, self.entry, self.threads = spec, entry, threads
        # algo="auto" with a known input size: where the choice came from ("exact", "rules" or
        # "neighbour" of the decision table, or "builtin"); None when the algorithm was named.
        self.choice: str | None = None
        t0 = time.perf_counter()
        self._run = entry.prepare(spec, w, b, threads)
        self.prepare_seconds = time.perf_counter() - t0

    @property
    def algo(self) -> str:
        return self.entry.algo

    @property
    def backend(self) -> str:
        return self.entry.backend

    def output_shape(self, x_shape) -> tuple[int, int, int, int]:
        oh, ow = self.spec.output_hw(x_shape[2], x_shape[3])
        return x_shape[0], self.spec.c_out, oh, ow

    def _output_for(self, x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        shape = self.output_shape(x.shape)
        if out is None:
            check_memory(x.shape, shape, self.spec, self.entry.algo)
            return np.empty(shape, np.float32)
        check_out(out, shape, x)
        return out

    def __call__(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        x = check_input(self.spec, x)
        out = self._output_for(x, out)
        self._run(x, out)
        return out

    def bind(self, x: np.ndarray, out: np.ndarray | None = None) -> Callable[[], np.ndarray]:
        """Check x and out once; returns a no-argument call running the kernel on them (what timing
        loops call, so they time the kernel alone). Refill x in place between calls; a non-contiguous
        x is copied here once, so pass a C-contiguous one if you refill it."""
        x = check_input(self.spec, x)
        out = self._output_for(x, out)
        run = self._run

        def call() -> np.ndarray:
            run(x, out)
            return out
        return call

    def __repr__(self) -> str:
        return f"ConvPlan({self.spec.describe()}, {self.entry.name}, threads={self.threads})"


class AutoPlan:
    """algo="auto" without a known input size: picks (and prepares) a kernel per input size seen.

    The choice is made once per input size and cached, so a call on a size seen before costs a dict
    lookup on top of the resolved plan's own call (benchmarks/bench_auto_overhead.py measures it).
    """

    def __init__(self, spec, backend, w, b, threads):
        self.spec, self.backend, self.threads = spec, backend, threads
        self._w, self._b = w, b
        self._plans: dict[str, ConvPlan] = {}        # per algorithm: one prepared plan
        self._by_hw: dict[tuple, ConvPlan] = {}      # per input (H, W): the plan chosen for it
        self.prepare_seconds = 0.0

    def plan_for(self, h: int, w: int) -> ConvPlan:
        plan = self._by_hw.get((h, w))
        if plan is not None:
            return plan
        algo = choose_algo(self.spec, h, w, self.backend, self.threads)
        if algo not in self._plans:
            p = ConvPlan(self.spec, registry.get(algo, self.backend), self._w, self._b, self.threads)
            self.prepare_seconds += p.prepare_seconds
            self._plans[algo] = p
        self._by_hw[(int(h), int(w))] = self._plans[algo]
        return self._plans[algo]

    def __call__(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        try:             # fast path: a size seen before (the plan checks the input itself)
            plan = self._by_hw[x.shape[2:]]
        except (KeyError, AttributeError, TypeError):
            x = check_input(self.spec, x)
            plan = self.plan_for(x.shape[2], x.shape[3])
        return plan(x, out)


def prepare_conv(w: np.ndarray, b: np.ndarray | None = None, *, stride=1, padding=0, dilation=1,
                 groups: int = 1, activation=None, algo: str = "auto", backend: str | None = None,
                 threads: int = 1, input_hw: tuple[int, int] | None = None) -> ConvPlan | AutoPlan:
    """Bind weights to a kernel. ``input_hw`` lets algo="auto" decide now instead of per input.
    backend None: registry.DEFAULT_BACKEND ("c"; "numba" when the C extension is not built)."""
    backend = registry.resolve_backend(backend)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)):
        raise ConvInputError(f"groups must be an int, got {groups!r}")
    w, b = check_weights(w, b, int(groups))
    spec = ConvSpec.build(w.shape[1] * groups, w.shape[0], w.shape[2], w.shape[3], stride=stride,
                          padding=padding, dilation=dilation, groups=groups, activation=activation,
                          has_bias=b is not None)
    return ConvPlan.from_spec(spec, w, b, algo=algo, backend=backend, threads=threads, input_hw=input_hw)


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *, stride=1, padding=0,
           dilation=1, groups: int = 1, activation=None, algo: str = "auto", backend: str | None = None,
           threads: int = 1) -> np.ndarray:
    """One-shot convolution, NCHW float32 input, OIHW float32 weights (ONNX Conv semantics).

    padding: int, (ph, pw) or ONNX (top, left, bottom, right). activation: None, "relu", "relu6",
    ("leaky_relu", alpha), ("prelu", slopes), "sigmoid" or "hardswish", applied in the epilogue.
    Non-contiguous float32 inputs are copied; other dtypes raise ConvInputError.
    backend None: registry.DEFAULT_BACKEND ("c"; "numba" when the C extension is not built).
    """
    if isinstance(x, np.ndarray) and x.ndim == 4:
        input_hw = (x.shape[2], x.shape[3])
    else:
        input_hw = None
    plan = prepare_conv(w, b, stride=stride, padding=padding, dilation=dilation, groups=groups,
                        activation=activation, algo=algo, backend=backend, threads=threads,
                        input_hw=input_hw if algo == "auto" and input_hw and min(input_hw) > 0 else None)
    return plan(x)
