"""What gets timed on one shape: every registered kernel and every requested peer, as zero-argument
callables on the same seeded input, or the reason one cannot run.
"""
from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import registry
from ..api import ConvPlan
from ..bench.conv import peer_factory
from ..errors import ConvlabError
from ..selection import first_runnable
from ..spec import ConvSpec
from .grid import PEER_ALGO, Shape, SweepSpec

# Max |candidate - first candidate| / max|first candidate| before a candidate counts as wrong;
# loose enough for Winograd's larger float32 error, tight enough to catch a broken kernel.
AGREEMENT_TOL = 1e-3


@dataclass
class Candidate:
    shape: Shape
    algo: str
    backend: str
    run: Callable[[], np.ndarray] | None = None   # returns the output, for the agreement check
    status: str = "ok"
    reason: str = ""
    prepare_ms: float | None = None


def conv_specs(shape: Shape) -> list[ConvSpec]:
    """The convs one shape runs, in order (two for dwsep)."""
    s = shape
    if s.op == "dwsep":
        return [ConvSpec.build(s.c_in, s.c_in, s.k, s.k, stride=s.stride, padding=s.padding, groups=s.c_in,
                               has_bias=True),
                ConvSpec.build(s.c_in, s.c_out, 1, 1, has_bias=True)]
    return [ConvSpec.build(s.c_in, s.c_out, s.k, s.k, stride=s.stride, padding=s.padding, groups=s.groups,
                           has_bias=True)]


def _inputs(shape: Shape, specs: list[ConvSpec]):
    rng = np.random.default_rng(zlib.crc32(repr(shape).encode()))
    x = rng.standard_normal((shape.batch, shape.c_in, shape.h, shape.w), dtype=np.float32)
    params = [(rng.standard_normal(sp.weight_shape, dtype=np.float32) * np.float32((sp.weight_shape[1] * sp.kh * sp.kw) ** -0.5),
               rng.standard_normal(sp.c_out, dtype=np.float32)) for sp in specs]
    return x, params


def _chain(stages: list[Callable[[np.ndarray], np.ndarray]], x: np.ndarray) -> Callable[[], np.ndarray]:
    if len(stages) == 1:
        f = stages[0]
        return lambda: f(x)

    def run():
        y = x
        for f in stages:
            y = f(y)
        return y
    return run


def kernel_run(entry: registry.KernelEntry, specs, params, x: np.ndarray, threads, backend):
    """(run, prepare ms): ConvPlans (ConvPlan.from_spec: constraints, availability, weights checked)
    bound to x and preallocated outputs, chained; dwsep's depthwise half uses the backend's
    `depthwise` kernel when it has one, so the pair's algo names the pointwise kernel."""
    calls, prep, y = [], 0.0, x
    for i, (sp, (w, b)) in enumerate(zip(specs, params)):
        e = entry
        if len(specs) > 1 and i == 0:
            e = _depthwise_entry(sp, backend)
        plan = ConvPlan.from_spec(sp, w, b, algo=e.algo, backend=e.backend, threads=threads)
        prep += plan.prepare_seconds
        out = np.empty(plan.output_shape(y.shape), np.float32)
        calls.append(plan.bind(y, out))
        y = out
    if len(calls) == 1:
        return calls[0], prep * 1e3
    return (lambda: [c() for c in calls][-1]), prep * 1e3


def _depthwise_entry(sp: ConvSpec, backend: str) -> registry.KernelEntry:
    e = first_runnable(("depthwise", "direct"), sp, backend)
    if e is None:
        raise ConvlabError(f"backend {backend} has no kernel for the depthwise half of the pair")
    return e


def peer_stages(peer: str, specs, params, x_shape, threads):
    try:
        cls = peer_factory(peer)
    except ImportError as e:
        raise ConvlabError(f"peer {peer} not available: {e}") from None
    stages, shape = [], x_shape
    t0 = time.perf_counter()
    for sp, (w, b) in zip(specs, params):
        stages.append(cls(sp, w, b, shape, threads=threads))
        oh, ow = sp.output_hw(shape[2], shape[3])
        shape = (shape[0], sp.c_out, oh, ow)
    return stages, (time.perf_counter() - t0) * 1e3


def candidates(spec: SweepSpec, shape: Shape, threads: int) -> list[Candidate]:
    specs = conv_specs(shape)
    x, params = _inputs(shape, specs)
    out: list[Candidate] = []
    over = spec.max_gflop is not None and shape.gflop() > spec.max_gflop
    for backend in spec.backends:
        for e in registry.entries(backend):
            if not spec.wants(e.algo):
                continue
            c = Candidate(shape, e.algo, backend)
            out.append(c)
            target = specs[-1]
            v = e.constraints.violation(target)
            if v is not None:
                c.status, c.reason = "unsupported", f"{v[0]}: {v[1]}"
            elif e.unavailable() is not None:
                c.status, c.reason = "unsupported", f"unavailable: {e.unavailable()}"
            elif over:
                c.status, c.reason = "skipped", f"over budget: {shape.gflop():.1f} > {spec.max_gflop} GFLOP"
            else:
                _prepare(c, lambda: kernel_run(e, specs, params, x, threads, backend))
    for peer in spec.peers:
        c = Candidate(shape, PEER_ALGO, peer)
        out.append(c)
        if over:
            c.status, c.reason = "skipped", f"over budget: {shape.gflop():.1f} > {spec.max_gflop} GFLOP"
        else:
            _prepare(c, lambda: _chained(peer_stages(peer, specs, params, x.shape, threads), x))
    _check_agreement(out)
    return out


def _chained(stages_ms, x):
    stages, ms = stages_ms
    return _chain(stages, x), ms


def _prepare(c: Candidate, make) -> None:
    try:
        c.run, c.prepare_ms = make()
    except ConvlabError as e:
        c.status, c.reason = "unsupported", str(e)
    except Exception as e:  # a crashing kernel is a result of the sweep, not the end of it
        c.status, c.reason = "error", f"{type(e).__name__}: {e}"


def _check_agreement(cands: list[Candidate]) -> None:
    """Run each candidate once; one that disagrees with the first is an error, not a timing."""
    first = None
    for c in cands:
        if c.status != "ok":
            continue
        try:
            y = np.array(c.run(), copy=True)
        except Exception as e:
            c.status, c.reason, c.run = "error", f"{type(e).__name__}: {e}", None
            continue
        if first is None:
            first = y
            continue
        scale = max(float(np.abs(first).max()), 1e-30)
        err = float(np.abs(y.astype(np.float64) - first).max()) / scale if y.shape == first.shape else np.inf
        if not err <= AGREEMENT_TOL:
            c.status, c.reason, c.run = "error", f"wrong result: relative error {err:.3g} vs the first candidate", None
