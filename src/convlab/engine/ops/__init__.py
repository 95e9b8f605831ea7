"""NumPy implementations of every non-conv ONNX op the engine runs, keyed by op type.

Each op is ``fn(node, inputs, opset) -> list of outputs`` where ``inputs`` are arrays (None for an
omitted optional input). Ops whose behaviour depends on the opset (attribute vs input forms of
Clip, Squeeze, Slice, Pad, Split, ...) read ``opset``. ``CHECKS`` holds load-time validators that
return why a node's attributes are not implemented (else None), so an unsupported model fails at load, not
mid-run. Conv itself is not here: the executor runs it through convlab.prepare_conv.
"""
from __future__ import annotations

from . import elementwise, linalg, pool, resize, tensor, conv_transpose

OPS: dict = {}
CHECKS: dict = {}
for _m in (elementwise, linalg, pool, resize, tensor, conv_transpose):
    OPS.update(_m.OPS)
    CHECKS.update(getattr(_m, "CHECKS", {}))

# Ops implemented outside this table: Conv (kernels), Constant (turned into a constant at load).
SUPPORTED = sorted(set(OPS) | {"Conv", "Constant"})
