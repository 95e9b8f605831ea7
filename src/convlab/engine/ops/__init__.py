"""NumPy implementations of every non-conv ONNX op the engine runs, keyed by op type.

Each op is ``fn(node, inputs, opset) -> list of outputs`` where ``inputs`` are arrays (None for an
omitted optional input). Ops whose behaviour depends on the opset (attribute vs input forms of
Clip, Squeeze, Slice, Pad, Split, ...) read ``opset``. ``CHECKS`` holds load-time validators that
return why a node's attributes are not implemented (else None), so an unsupported model fails at load, not
mid-run. Conv itself is not here: the executor runs it through convlab.prepare_conv.
"""
from __future__ import annotations

from ..errors import ModelLoadError


def invalid(node, why: str) -> ModelLoadError:
    """A node whose attributes or constant inputs onnxruntime refuses too: the error names the node."""
    return ModelLoadError(f"node {node.name!r} ({node.op}): {why}")


def positive_ints(node, name: str, values, n: int | None, minimum: int = 1) -> list[int]:
    """An INTS attribute with n entries, each >= minimum (else the node's error)."""
    values = list(values)
    if n is not None and len(values) != n:
        raise invalid(node, f"{name} has {len(values)} values, the {n}-D input needs {n}")
    if any(v < minimum for v in values):
        raise invalid(node, f"{name} {values} must all be >= {minimum}")
    return values


from . import elementwise, linalg, pool, reduce, resize, tensor, conv_transpose

OPS: dict = {}
CHECKS: dict = {}
for _m in (elementwise, linalg, pool, reduce, resize, tensor, conv_transpose):
    OPS.update(_m.OPS)
    CHECKS.update(getattr(_m, "CHECKS", {}))

# Ops implemented outside this table: Conv (kernels), Constant (turned into a constant at load).
SUPPORTED = sorted(set(OPS) | {"Conv", "Constant"})
