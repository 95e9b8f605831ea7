"""Model: load an ONNX file for a fixed input shape, optimise it, run it, profile it."""
from __future__ import annotations

import threading

import numpy as np
import onnx

from .. import registry
from . import passes as passes_mod
from . import shapes
from .executor import Executor
from .native import NativeExecutor
from .native import unavailable as native_unavailable
from .export import to_onnx
from .loader import load_graph
from .errors import ModelInputError
from .profile import TIMERS, Profile, measure


ENGINES = {"native": NativeExecutor, "python": Executor}


def default_engine() -> str:
    """The native engine wherever the C extension is built: it is the fast path."""
    return "python" if native_unavailable() else "native"


class _Exclusive:
    """A context manager that takes its lock without waiting or raises ModelInputError."""
    __slots__ = ("lock",)

    def __init__(self):
        self.lock = threading.Lock()

    def __enter__(self):
        if not self.lock.acquire(blocking=False):
            raise ModelInputError("this Model is already running in another thread; use one Model per thread "
                                  "(Model.load again: plans and weights are cheap to load, activations are per Model)")

    def __exit__(self, *exc):
        self.lock.release()


class Model:
    def __init__(self, graph, executor: Executor, pass_report: list[dict], options: dict):
        self.graph, self.executor, self.pass_report, self.options = graph, executor, pass_report, options

    @classmethod
    def load(cls, source, input_shapes: dict | None = None, *, conv: str = "auto", backend: str | None = None,
             threads: int = 1, passes="all", overrides=None, reuse: bool = True, engine: str | None = None) -> "Model":
        """source: path, bytes or onnx.ModelProto. See the package docstring for the options.

        engine: "native" (the whole graph in one C call; the default when the C extension is built)
        or "python" (the readable reference executor, one Python step per node). backend: the conv
        kernels' backend, "c" by default ("numba" when the C extension is not built)."""
        engine = engine or default_engine()
        if engine not in ENGINES:
            raise ModelInputError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
        if engine == "native" and native_unavailable():
            raise ModelInputError(f"engine='native' needs the C extension: {native_unavailable()}")
        backend = registry.resolve_backend(backend)
        graph = load_graph(source, input_shapes)
        shapes.infer(graph)
        report = passes_mod.run_passes(graph, passes)
        executor = ENGINES[engine](graph, conv=conv, backend=backend, threads=threads, overrides=overrides,
                                   reuse=reuse)
        return cls(graph, executor, report, {"conv": conv, "backend": backend, "threads": threads, "engine": engine})

    @property
    def inputs(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        return dict(self.graph.inputs)

    @property
    def outputs(self) -> list[str]:
        return list(self.graph.outputs)

    def _lock(self) -> "_Exclusive":
        # The executor's arena (preallocated activations) is per Model: two concurrent runs would
        # overwrite each other's activations (issue 16: 23 of 60 outputs wrong). Refuse, never block.
        # A plain object, not a generator context manager: R-Net runs in 0.11 ms, so microseconds count.
        guard = self.__dict__.get("_guard")
        if guard is None:
            guard = self.__dict__.setdefault("_guard", _Exclusive())
        return guard

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock():
            return self.executor.run(feeds)

    __call__ = run

    def random_inputs(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Standard-normal float inputs (zeros for integer inputs) of the fixed shapes."""
        rng = np.random.default_rng(seed)
        return {name: (rng.standard_normal(shape).astype(dtype) if np.issubdtype(dtype, np.floating)
                       else np.zeros(shape, dtype)) for name, (shape, dtype) in self.graph.inputs.items()}

    def profile(self, feeds=None, repeat: int = 10, warmup: int = 2, clock: str = "wall") -> Profile:
        """Per-layer medians; clock="cpu" times thread CPU time (fairer on a busy machine, 1 thread)."""
        feeds = self.random_inputs() if feeds is None else feeds
        if clock not in TIMERS:
            raise ModelInputError(f"clock must be one of {sorted(TIMERS)}, got {clock!r}")
        with self._lock():     # a profile runs the same arena
            return measure(self.executor, feeds, repeat, warmup, self.pass_report, self.options["threads"], clock)

    def layers(self) -> list[dict]:
        """Each conv layer's kernel, and the reason when it fell back from the one asked for."""
        return [{"layer": s.node.name, "conv": s.spec.describe(), "kernel": s.kernel, "note": s.note}
                for s in self.executor.steps if s.spec is not None]

    def kernel_overrides(self) -> dict[str, str]:
        """{conv layer: "algo/backend"} as chosen here: save it (JSON/YAML) and pass it as
        ``overrides=`` to reload with the same kernels without tuning again."""
        return {s.node.name: s.kernel for s in self.executor.steps if s.spec is not None}

    @property
    def memory(self) -> dict:
        return self.executor.arena.report()

    def to_onnx(self) -> onnx.ModelProto:
        return to_onnx(self.graph)

    def save(self, path) -> None:
        onnx.save(self.to_onnx(), path)
