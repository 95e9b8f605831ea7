"""The executor: a graph's nodes as a list of steps, conv weights prepared once, activations in an arena.

Every float32 intermediate tensor is a view into one arena buffer (see arena.py); a conv kernel
writes straight into its output's view, other ops' results are copied into theirs, and
Reshape-like ops just re-view their input's bytes. Non-float tensors (shape arithmetic left in
when constant folding is off) are ordinary NumPy arrays.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..spec import ConvSpec
from . import kernel_choice
from .arena import Arena, Lifetime
from .errors import ModelInputError
from .graph import Graph, Node
from .ops import OPS
from .ops.tensor import VIEW_OPS
from .shapes import conv_spec


@dataclass
class Step:
    node: Node
    run: object                      # conv plan, or the op function
    kernel: str = "numpy"            # what computes it, for the profile
    note: str = ""                   # why the kernel is not the one asked for
    flops: int = 0
    spec: ConvSpec | None = None
    in_shapes: list = field(default_factory=list)
    out_shapes: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)   # conv="tune": each candidate kernel's ms
    choice: str | None = None        # conv with algo="auto": where the choice came from (ConvPlan.choice)
    host: str = "python"             # what runs the step: "python", or "c" inside the native engine
    host_note: str = ""              # native engine: why this step stayed in Python


def _flops(node: Node, graph: Graph, in_shapes, out_shapes) -> int:
    if node.op == "ConvTranspose":
        w = graph.consts[node.input(1)].shape
        return 2 * int(np.prod(in_shapes[0])) * w[1] * w[2] * w[3]
    if node.op in ("Gemm", "MatMul"):
        a = in_shapes[0]
        k = a[0] if node.op == "Gemm" and node.attr("transA", 0) else a[-1]
        return 2 * int(np.prod(out_shapes[0])) * k
    return 0


class Executor:
    def __init__(self, graph: Graph, conv: str = "auto", backend: str = "numba", threads: int = 1,
                 overrides=None, reuse: bool = True):
        self.graph = graph
        overrides = kernel_choice.read_overrides(overrides)
        conv_names = {n.name for n in graph.nodes if n.op == "Conv"}
        unknown = sorted(set(overrides) - conv_names)
        if unknown:
            raise ModelInputError(f"overrides name {unknown}, which are not conv layers of this model "
                                  f"(after passes); conv layers: {sorted(conv_names)}")
        kernel_choice.check_request(conv, backend)
        for layer, o in overrides.items():
            kernel_choice.check_request(o.get("algo", conv), o.get("backend", backend), f"override for {layer!r}: ")
        self.steps = [self._step(n, conv, backend, threads, overrides.get(n.name, {})) for n in graph.nodes]
        self.arena = Arena(*self._lifetimes(reuse))

    def _step(self, node: Node, conv, backend, threads, override) -> Step:
        g = self.graph
        in_shapes = [g.shapes[i][0] if i in g.shapes else np.shape(g.consts.get(i)) for i in node.inputs if i]
        out_shapes = [g.shapes[o][0] for o in node.outputs if o]
        if node.op != "Conv":
            return Step(node, OPS[node.op], flops=_flops(node, g, in_shapes, out_shapes),
                        in_shapes=in_shapes, out_shapes=out_shapes)
        w = g.consts[node.input(1)]
        b = g.consts[node.input(2)] if node.input(2) else None
        spec = conv_spec(node, in_shapes[0], w, node.fused)
        plan, note, timings = kernel_choice.select(w, b, spec, in_shapes[0], override.get("algo", conv),
                                                   override.get("backend", backend), threads)
        return Step(node, plan, kernel=f"{plan.algo}/{plan.backend}", note=note, timings=timings,
                    choice=getattr(plan, "choice", None),
                    flops=spec.flops(in_shapes[0][0], *in_shapes[0][2:]), spec=spec,
                    in_shapes=in_shapes, out_shapes=out_shapes)

    def _input_lifetimes(self) -> bool:
        """Whether the graph's float32 inputs get arena space (they are fed as they are here)."""
        return False

    def _write_time(self, k: int, step: Step) -> int:
        """When step k writes its outputs: 2k for a conv (the kernel writes while it reads, so they
        must not share bytes); 2k + 1 for other ops, which build their result first and copy it
        in, so it may take the place of inputs read for the last time."""
        return 2 * k + (step.spec is None)

    def _lifetimes(self, reuse: bool):
        """Arena tensors (float32 intermediates) with the times they live over; views share their root.

        Step k reads its inputs at time 2k and writes its outputs at _write_time(k).
        """
        g = self.graph
        root, lifetimes, shapes = {}, {}, {}
        end = 2 * len(self.steps)
        if self._input_lifetimes():
            for name, (shape, dtype) in g.inputs.items():
                if dtype == np.float32:
                    root[name], shapes[name] = name, shape
                    lifetimes[name] = Lifetime(4 * int(np.prod(shape, dtype=np.int64)), 0, 0)
        for k, step in enumerate(self.steps):
            n = step.node
            for i in n.inputs:
                if i in root:
                    r = root[i]
                    lifetimes[r] = Lifetime(lifetimes[r].size, lifetimes[r].first, 2 * k)
            for o in n.outputs:
                if not o or g.shapes[o][1] != np.float32:
                    continue
                if n.op in VIEW_OPS:
                    if n.inputs[0] in root:
                        root[o] = root[n.inputs[0]]
                    continue
                shapes[o] = g.shapes[o][0]
                root[o] = o
                t = self._write_time(k, step)
                lifetimes[o] = Lifetime(4 * int(np.prod(shapes[o], dtype=np.int64)), t, t)
        for o in g.outputs:
            if o in root:
                r = root[o]
                lifetimes[r] = Lifetime(lifetimes[r].size, lifetimes[r].first, end)
        if not reuse:   # every tensor alive throughout: the no-reuse layout, for comparison and tests
            lifetimes = {k: Lifetime(t.size, 0, end) for k, t in lifetimes.items()}
        self.root = root
        return lifetimes, shapes

    def check_feeds(self, feeds) -> dict[str, np.ndarray]:
        if not isinstance(feeds, dict):
            raise ModelInputError(f"inputs must be a dict {{name: array}}, got {type(feeds).__name__}")
        if len(feeds) > len(self.graph.inputs) or not feeds.keys() <= self.graph.inputs.keys():
            unknown = sorted(set(feeds) - set(self.graph.inputs))
            raise ModelInputError(f"unknown input(s) {unknown}; the model's inputs are {sorted(self.graph.inputs)}")
        out = {}
        for name, (shape, dtype) in self.graph.inputs.items():
            if name not in feeds:
                raise ModelInputError(f"missing input {name!r} ({dtype} {shape})")
            x = feeds[name]
            if not isinstance(x, np.ndarray):
                raise ModelInputError(f"input {name!r} must be a numpy array, got {type(x).__name__}")
            if x.dtype != dtype:
                raise ModelInputError(f"input {name!r} must be {dtype}, got {x.dtype}")
            if x.shape != shape:
                raise ModelInputError(f"input {name!r} must have shape {shape} (fixed at load), got {x.shape}")
            out[name] = np.ascontiguousarray(x)
        return out

    def run(self, feeds, clock: list | None = None, timer=time.perf_counter) -> dict[str, np.ndarray]:
        """Outputs for the given inputs. With `clock` (a list), appends each step's `timer` seconds to it."""
        g, views = self.graph, self.arena.views
        values = dict(g.consts)
        values.update(self.check_feeds(feeds))
        for step in self.steps:
            t0 = timer() if clock is not None else 0.0
            n = step.node
            if step.spec is not None:
                out = n.outputs[0]
                values[out] = step.run(values[n.inputs[0]], out=views[out])
            else:
                results = step.run(n, [values[i] if i else None for i in n.inputs], g.opset)
                for o, r in zip(n.outputs, results):
                    if o in views:
                        np.copyto(views[o], r)
                        r = views[o]
                    values[o] = r
            if clock is not None:
                clock.append(timer() - t0)
        return {o: np.array(values[o], copy=True) for o in g.outputs}
