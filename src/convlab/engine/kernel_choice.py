"""Which conv kernel each layer gets: the requested one if it supports the layer, else the best
supported one, with the reason recorded so the profile can say what happened. ``conv="tune"``
times every available kernel that supports the layer, on the layer's real shape, and keeps the
fastest (restricted to ``backend``, or across all backends with ``backend="all"``).

Requests come from the model-wide ``conv``/``backend`` options or a per-layer override file
(JSON or YAML: ``{layer name: "algo" | "algo/backend" | {algo: ..., backend: ...}}``).
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from .. import registry
from ..api import prepare_conv
from ..errors import ConvlabError, parse_error_text
from .errors import ModelInputError

# Where to look when the requested backend cannot run a layer at all (fastest first).
FALLBACK_BACKENDS = ("c", "numba", "numpy")


def read_overrides(source) -> dict[str, dict]:
    """An override mapping, or a JSON/YAML file of one -> {layer: {"algo": a, "backend": b}}."""
    if source is None:
        return {}
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise ModelInputError(f"override file {path}: no such file")
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8")
        except UnicodeDecodeError as e:
            raise ModelInputError(f"override file {path}: not UTF-8 text (byte {e.start})") from None
        except OSError as e:
            raise ModelInputError(f"override file {path}: cannot read: {e.strerror}") from None
        try:
            if path.endswith((".yaml", ".yml")):
                import yaml
                data = yaml.safe_load(text)
            else:
                data = json.loads(text)
        except Exception as e:
            raise ModelInputError(f"override file {path} cannot be parsed: {parse_error_text(e)}") from None
    else:
        data = source
    if not isinstance(data, dict):
        raise ModelInputError(f"overrides must map layer names to kernels, got {type(data).__name__}")
    out = {}
    for layer, v in data.items():
        if isinstance(v, str):
            algo, _, backend = v.partition("/")
            v = {"algo": algo, **({"backend": backend} if backend else {})}
        if not isinstance(v, dict) or not set(v) <= {"algo", "backend"} or not v:
            raise ModelInputError(f"override for layer {layer!r} must be 'algo', 'algo/backend' or "
                                  f"{{algo: ..., backend: ...}}, got {v!r}")
        out[str(layer)] = v
    return out


def check_request(algo: str, backend: str, where: str = "") -> None:
    """Names no kernel has are typos, not fallbacks: reject them at load."""
    backends = registry.backends()
    algos = sorted({e.algo for e in registry.entries()})
    if backend not in backends and not (algo == "tune" and backend == "all"):
        raise ModelInputError(f"{where}unknown backend {backend!r}; known: {', '.join(backends)}"
                              + (" (or all, with tune)" if algo == "tune" else ""))
    if algo not in ("auto", "tune") and algo not in algos:
        raise ModelInputError(f"{where}unknown conv algorithm {algo!r}; known: auto, tune, {', '.join(algos)}")


def tune(w, b, spec, x_shape, backend: str, threads: int, repeat: int = 5):
    """(plan, {kernel: ms}): the fastest available kernel for this layer, by its best of `repeat` runs.

    Single-threaded runs are timed in thread CPU time and ranked by their fastest run: on a shared
    machine other processes only ever add time, so the minimum is the least disturbed estimate.
    A candidate whose first timed run is over twice the best so far is not timed further, which
    keeps tuning a model to seconds when a slow kernel takes tens of milliseconds per run.
    """
    timer = time.thread_time if threads == 1 else time.perf_counter
    kwargs = dict(stride=spec.stride, padding=spec.padding, dilation=spec.dilation, groups=spec.groups,
                  activation=spec.activation, threads=threads)
    x = np.random.default_rng(0).standard_normal(x_shape).astype(np.float32)
    best, best_ms, times = None, np.inf, {}
    for e in registry.entries(None if backend == "all" else backend, available_only=True):
        if e.algo == "reference" or not e.supports(spec):
            continue
        plan = prepare_conv(w, b, algo=e.algo, backend=e.backend, **kwargs)
        out = np.empty(plan.output_shape(x_shape), np.float32)
        plan(x, out)                                    # warm-up (and JIT compile for numba)
        samples = []
        for _ in range(repeat):
            t0 = timer()
            plan(x, out)
            samples.append(timer() - t0)
            if samples[0] * 1e3 > 2 * best_ms:
                break
        times[e.name] = float(min(samples) * 1e3)
        if times[e.name] < best_ms:
            best, best_ms = plan, times[e.name]
    return best, times


def select(w, b, spec, x_shape, algo: str, backend: str, threads: int):
    """(plan, note, tuning times) for one layer: tuned, or as asked with fallbacks."""
    if algo != "tune":
        return (*choose(w, b, spec, tuple(x_shape[2:]), algo, backend, threads), {})
    plan, times = tune(w, b, spec, x_shape, backend, threads)
    if plan is not None:
        return plan, "", times
    plan, why = choose(w, b, spec, tuple(x_shape[2:]), "auto", "numba" if backend == "all" else backend, threads)
    return plan, f"asked tune/{backend}: no available kernel supports this layer; {why}", {}


def choose(w, b, spec, input_hw, algo: str, backend: str, threads: int):
    """(plan, note): a prepared conv plan and, if it is not what was asked for, why."""
    kwargs = dict(stride=spec.stride, padding=spec.padding, dilation=spec.dilation, groups=spec.groups,
                  activation=spec.activation, threads=threads, input_hw=input_hw)
    asked = f"{algo}/{backend}"
    reasons = []
    attempts = [(algo, backend)]
    if algo != "auto":
        attempts.append(("auto", backend))
    attempts += [("auto", bk) for bk in FALLBACK_BACKENDS if bk != backend]
    known = set(registry.backends())
    for a, bk in attempts:
        if bk not in known:
            reasons.append(f"no {bk} backend")
            continue
        try:
            plan = prepare_conv(w, b, algo=a, backend=bk, **kwargs)
        except ConvlabError as e:
            reasons.append(str(e))
            continue
        if (a, bk) == (algo, backend):
            return plan, ""
        return plan, f"asked {asked}: {reasons[0]}"
    # The oracle supports every convolution: slow, but the model still runs and the note says why.
    plan = prepare_conv(w, b, algo="reference", backend="numpy", **kwargs)
    return plan, f"asked {asked}: {'; '.join(reasons)}"
