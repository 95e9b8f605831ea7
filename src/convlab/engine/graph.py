"""The engine's graph: ONNX nodes with decoded attributes, constants as NumPy arrays.

Passes rewrite this structure; the executor plans and runs it; export.py turns it back into ONNX.
Value names are ONNX's, so a graph can always be written back and compared node for node.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..activation import Activation


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str]                 # "" marks an omitted optional input, as in ONNX
    outputs: list[str]
    attrs: dict = field(default_factory=dict)
    # Conv only: the activation a pass fused into the kernel's epilogue (ONNX Conv cannot carry it).
    fused: Activation | None = None

    def attr(self, key: str, default=None):
        v = self.attrs.get(key, default)
        return v.decode() if isinstance(v, bytes) else v

    def input(self, i: int) -> str:
        """The i-th input name, or "" when it is omitted."""
        return self.inputs[i] if i < len(self.inputs) else ""


@dataclass
class Graph:
    nodes: list[Node]
    consts: dict[str, np.ndarray]
    inputs: dict[str, tuple[tuple[int, ...], np.dtype]]   # graph inputs with their fixed shapes
    outputs: list[str]
    opset: int
    name: str = "graph"
    # value name -> (shape, dtype) for every non-constant value; filled by shapes.infer().
    shapes: dict[str, tuple[tuple[int, ...], np.dtype]] = field(default_factory=dict)
    ir_version: int = 8

    def producers(self) -> dict[str, Node]:
        return {o: n for n in self.nodes for o in n.outputs if o}

    def consumers(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    out.setdefault(i, []).append(n)
        return out

    def fresh_name(self, base: str) -> str:
        taken = set(self.consts) | set(self.inputs) | {o for n in self.nodes for o in n.outputs}
        name, k = base, 1
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        return name

    def drop_unused_consts(self, names) -> None:
        """Forget the named constants that no node or graph output reads any more."""
        used = {i for n in self.nodes for i in n.inputs} | set(self.outputs)
        for name in names:
            if name not in used:
                self.consts.pop(name, None)

    def copy(self) -> "Graph":
        nodes = [Node(n.name, n.op, list(n.inputs), list(n.outputs), dict(n.attrs), n.fused) for n in self.nodes]
        return Graph(nodes, dict(self.consts), dict(self.inputs), list(self.outputs), self.opset, self.name,
                     dict(self.shapes), self.ir_version)
