"""The conv benchmark: every requested kernel and peer on one shape, checked, then timed together.

Each candidate is first checked against the float64 reference (a kernel or peer that computes
something else is reported as a mismatch and never timed); all that pass are then timed
round-robin in the same run (timing.py), so the ratio to onnxruntime is a same-run ratio.
Candidates that cannot run the shape stay in the result with the reason.
"""
from __future__ import annotations

import importlib
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from .. import registry
from ..api import ConvPlan
from ..errors import ConvInputError, UnsupportedConvError
from ..kernels.reference import conv2d_reference
from ..spec import ConvSpec
from .machine import machine_info
from .timing import time_interleaved

# name -> (module, class): each class is built as Peer(spec, w, b, input_shape, threads) and called with x.
PEERS = {
    "onnxruntime": ("convlab.peers.onnxruntime_conv", "OrtConv"),
    "ncnn": ("convlab.peers.ncnn_conv", "NcnnConv"),
    "torch": ("convlab.peers.torch_conv", "TorchConv"),
}
BASELINE = "onnxruntime"
# Max |y - exact| / (|w| conv |x| + |b|) accepted before timing: far above any float32 algorithm's
# rounding (Winograd F(6,3) included), far below what a wrong padding, layout or weight order gives.
CHECK_TOLERANCE = 1e-3


@dataclass
class Row:
    name: str                      # "algo/backend" for kernels, the library name for peers
    kind: str                      # "kernel" | "peer"
    status: str                    # ok | unsupported | unavailable | missing | mismatch | error
    reason: str = ""
    prepare_ms: float | None = None
    median_ms: float | None = None
    iqr_ms: float | None = None
    cpu_ms: float | None = None     # median process CPU time per call (less sensitive to a busy machine)
    samples: int | None = None
    converged: bool | None = None
    gflops: float | None = None
    ratio_ort: float | None = None  # this run time / onnxruntime's, same run
    cpu_ratio_ort: float | None = None  # the same with CPU times
    max_rel_err: float | None = None


def peer_factory(name: str) -> Callable:
    """The peer's class. It imports its library when built, so a missing library is an ImportError then."""
    if name not in PEERS:
        raise ConvInputError(f"unknown peer {name!r}; known: {', '.join(PEERS)}")
    module, cls = PEERS[name]
    return getattr(importlib.import_module(module), cls)


def select_kernels(algos: list[str] | None, backends: list[str] | None) -> list[tuple[str, str, registry.KernelEntry | None]]:
    """(algo, backend, entry or None when that pair does not exist). None lists mean "all"."""
    known_backends = [b for b in registry.backends() if b != "numpy"]
    for b in backends or []:
        if b not in registry.backends():
            raise ConvInputError(f"unknown backend {b!r}; known: {', '.join(registry.backends())}")
    backends = backends or known_backends
    out = []
    for be in backends:
        have = {e.algo: e for e in registry.entries(be)}
        wanted = [a for a in have if a != "reference"] if algos is None else algos
        for algo in wanted:
            out.append((algo, be, have.get(algo)))
    if algos:
        every = {e.algo for e in registry.entries()}
        for algo in algos:
            if algo not in every:
                raise ConvInputError(f"unknown algorithm {algo!r}; known: {', '.join(sorted(every))}")
    return out


def _check(y, exact, scale) -> tuple[float | None, str]:
    """(max relative error or None when not finite, "" or why the output is wrong)."""
    y = np.asarray(y)
    if y.shape != exact.shape:
        return None, f"output shape {y.shape}, expected {exact.shape}; not timed"
    err = float(np.max(np.abs(y.astype(np.float64) - exact) / (scale + 1e-30), initial=0.0))
    if not err <= CHECK_TOLERANCE:
        return (err if np.isfinite(err) else None), (
            f"output differs from the reference (max relative error {err:.3g} > {CHECK_TOLERANCE}); not timed")
    return err, ""


def bench_conv(spec: ConvSpec, input_shape: tuple[int, int, int, int], *, algos=None, backends=None,
               peers=("onnxruntime",), threads: int = 1, seed: int = 0, timing: dict | None = None,
               peer_factories: dict[str, Callable] | None = None, progress: bool = False) -> dict:
    """Benchmark one conv shape. ``peer_factories`` overrides how peers are built (tests use it).
    ``progress``: bars (with ETA) over the candidates' preparation and the timing rounds, on a terminal."""
    from ..progress import bar
    n, _, h, w_ = input_shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(input_shape, dtype=np.float32)
    w = (rng.standard_normal(spec.weight_shape, dtype=np.float32) / np.sqrt(np.prod(spec.weight_shape[1:]))).astype(np.float32)
    b = rng.standard_normal(spec.c_out, dtype=np.float32) if spec.has_bias else None
    exact = conv2d_reference(x, w, b, spec)
    linear = ConvSpec.build(spec.c_in, spec.c_out, spec.kh, spec.kw, stride=spec.stride, padding=spec.padding,
                            dilation=spec.dilation, groups=spec.groups)
    scale = conv2d_reference(np.abs(x), np.abs(w), None if b is None else np.abs(b), linear)
    flops = spec.flops(n, h, w_)
    rows: list[Row] = []
    timed: dict[str, Callable[[], object]] = {}
    by_name: dict[str, Row] = {}

    def admit(row: Row, fn: Callable[[], np.ndarray]) -> None:
        try:
            row.max_rel_err, wrong = _check(fn(), exact, scale)
        except Exception as e:  # a peer library failing on a shape is a result, not a crash
            row.status, row.reason = "error", f"{type(e).__name__}: {e}"
            return
        if wrong:
            row.status, row.reason = "mismatch", wrong
            return
        timed[row.name] = fn
        by_name[row.name] = row

    kernels = select_kernels(algos, backends)
    setup = bar(total=len(kernels) + len(peers), desc="prepare + check", unit="candidate", enable=progress)
    for algo, backend, entry in kernels:
        setup.update()
        row = Row(f"{algo}/{backend}", "kernel", "ok")
        rows.append(row)
        if entry is None:
            row.status, row.reason = "missing", f"no {algo!r} kernel in backend {backend!r}"
            continue
        if entry.unavailable() is not None:
            row.status, row.reason = "unavailable", entry.unavailable()
            continue
        try:
            entry.check(spec)
        except UnsupportedConvError as e:
            row.status, row.reason = "unsupported", f"{e.constraint}: {e.detail}"
            continue
        kw = dict(algo=algo, backend=backend, threads=threads)
        ConvPlan.from_spec(spec, w, b, **kw)(x)          # first run: JIT compilation or cache load, not timed
        plan = ConvPlan.from_spec(spec, w, b, **kw)
        row.prepare_ms = plan.prepare_seconds * 1e3
        admit(row, plan.bind(x))

    for name in peers:
        setup.update()
        row = Row(name, "peer", "ok")
        rows.append(row)
        factory = (peer_factories or {}).get(name) or peer_factory(name)
        try:
            factory(spec, w, b, input_shape, threads)   # first build pays the library's lazy imports
            t0 = time.perf_counter()
            peer = factory(spec, w, b, input_shape, threads)
            row.prepare_ms = (time.perf_counter() - t0) * 1e3
        except UnsupportedConvError as e:
            row.status, row.reason = "unsupported", f"{e.constraint}: {e.detail}"
            continue
        except ImportError as e:      # peers import their library when built
            row.status, row.reason = "missing", f"{name} is not installed ({e})"
            continue
        except Exception as e:
            row.status, row.reason = "error", f"{type(e).__name__}: {e}"
            continue
        admit(row, lambda peer=peer: peer(x))

    setup.close()
    for name, t in time_interleaved(timed, **(timing or {}), progress="timing" if progress else None).items():
        row = by_name[name]
        # 1 thread: the calling thread's CPU time (never above the wall time); more: the process's
        cpu = t.thread_cpu_median if threads == 1 else t.cpu_median
        row.median_ms, row.iqr_ms, row.cpu_ms = t.median * 1e3, t.iqr * 1e3, cpu * 1e3
        row.samples, row.converged = len(t.samples), t.converged
        row.gflops = flops / t.median / 1e9
    base = by_name.get(BASELINE)
    for row in by_name.values():
        if base is not None and base.median_ms:
            row.ratio_ort = row.median_ms / base.median_ms
        if base is not None and base.cpu_ms:
            row.cpu_ratio_ort = row.cpu_ms / base.cpu_ms
    return {
        "machine": machine_info(threads),
        "conv": {"spec": spec.describe(), "input_shape": list(input_shape), "c_in": spec.c_in,
                 "c_out": spec.c_out, "kernel": [spec.kh, spec.kw], "stride": list(spec.stride),
                 "padding": list(spec.padding), "dilation": list(spec.dilation), "groups": spec.groups,
                 "activation": repr(spec.activation), "flops": flops},
        "threads": threads,
        "timing": timing or {},
        "rows": [asdict(r) for r in rows],
    }
