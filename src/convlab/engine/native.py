"""The native engine: the optimised graph compiled to C steps (csrc/engine.c) that one call runs.

Each node lowers to zero or more ``cl_step`` records (a Concat to one strided copy per input, a
Reshape to nothing: it is a view of its input's bytes) that refer to tensors by their arena
offset and to weights and tables by their offset into one constant blob. The kernel of each conv
layer is the one kernel_choice picked (auto, tune or an override); C prepares it once (packing
the weights for this CPU's micro-kernel) when the engine is created.

A node that has no C lowering (a Numba conv, an op with integer tensors, an op form the C side
does not cover) stays a Python step running on arena views, and its profile row says why. The
steps between two Python steps run in one C call; a model with none runs in exactly one.
"""
from __future__ import annotations

import time

import numpy as np

from ..errors import ConvlabError
from ..kernels import c as cbackend
from .arena import ALIGN
from .executor import Executor, Step
from .ops.conv_transpose import conv_transpose_geometry
from .ops.elementwise import clip_bounds
from .ops.pool import pool_geometry
from .ops.resize import ROUNDING, TRANSFORMS, resize_settings, scales_and_sizes
from .ops.tensor import VIEW_OPS

MAX_DIMS = 6
_INT_MAX = 2**31 - 1

CONV_ALGOS = {"im2col": 0, "direct": 1, "depthwise": 2, "winograd_f23": 3, "winograd_f43": 4, "winograd_f63": 5,
              "stem": 6}
BINARY = {"Add": 0, "Sub": 1, "Mul": 2, "Div": 3, "Max": 4, "Min": 5, "PRelu": 6}
UNARY = {"Relu": 1, "Sigmoid": 2, "Tanh": 3, "Clip": 4, "LeakyRelu": 5, "HardSigmoid": 6, "HardSwish": 7,
         "Exp": 8, "Neg": 9, "Sqrt": 10, "Floor": 11, "Ceil": 12}
OP_CONV, OP_COPY, OP_BINARY, OP_UNARY, OP_SOFTMAX, OP_POOL, OP_FC, OP_RESIZE, OP_FILL, OP_CONVT = range(1, 11)
POOL_MAX, POOL_AVG, POOL_AVG_INCLUDE_PAD = range(3)


TARGETS = {"x86-64": 1, "aarch64": 2}


def plan_target(name: str) -> int:
    """CL_PLAN_TARGET_* for a target name; "host" is this machine's."""
    if name == "host":
        code = cbackend.lib.cl_plan_host_target()
        if not code:
            raise ConvlabError("this machine is neither x86-64 nor aarch64: name a --target")
        return code
    if name not in TARGETS:
        raise ConvlabError(f"unknown target {name!r}; known: host, {', '.join(TARGETS)}")
    return TARGETS[name]


class NotLowered(Exception):
    """This node stays a Python step; the message says why (shown in the profile)."""


def unavailable() -> str | None:
    return cbackend.unavailable()


class _Consts:
    """The constant blob: arrays appended at ALIGN-byte offsets, deduplicated by identity."""

    def __init__(self):
        self.parts, self.size, self._seen = [], 0, {}

    def add(self, a: np.ndarray) -> int:
        key = id(a)
        if key in self._seen and self._seen[key][0] is a:
            return self._seen[key][1]
        data = np.ascontiguousarray(a)
        if data.dtype not in (np.float32, np.int32):
            data = data.astype(np.float32)
        off = self.size
        self.parts.append((off, data))
        self.size = -(-(off + data.nbytes) // ALIGN) * ALIGN
        self._seen[key] = (a, off)
        return off

    def blob(self) -> np.ndarray:
        out = np.zeros(max(self.size, ALIGN), np.uint8)
        for off, data in self.parts:
            out[off:off + data.nbytes] = data.reshape(-1).view(np.uint8)
        return out


def _collapse(dims, *strides):
    """Drop size-1 dims and merge neighbours every operand walks contiguously: fewer, longer rows."""
    keep = [k for k, d in enumerate(dims) if d != 1] or [len(dims) - 1]
    dims = [dims[k] for k in keep]
    strides = [[s[k] for k in keep] for s in strides]
    out_d, out_s = [dims[0]], [[s[0]] for s in strides]
    for k in range(1, len(dims)):
        if all(s[k - 1] == s[k] * dims[k] for s in strides):
            out_d[-1] *= dims[k]
            for o, s in zip(out_s, strides):
                o[-1] = s[k]
        else:
            out_d.append(dims[k])
            for o, s in zip(out_s, strides):
                o.append(s[k])
    return out_d, out_s


def _dims_fields(dims, strides_a, strides_b) -> list[int]:
    if len(dims) > MAX_DIMS:
        raise NotLowered(f"{len(dims)} dims after collapsing (the C side walks up to {MAX_DIMS})")
    nd = len(dims)
    pad = MAX_DIMS - nd
    # Leading dims of size 1 keep the innermost dim at index nd - 1 of each field.
    fields = [nd] + list(dims) + [1] * pad + list(strides_a) + [0] * pad + list(strides_b) + [0] * pad
    if any(abs(v) > _INT_MAX for v in fields):
        raise NotLowered("a dimension or stride beyond 2**31 - 1")
    return fields


def _contiguous_strides(shape) -> list[int]:
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc *= d
    return out[::-1]


def _broadcast_strides(shape, out_shape) -> list[int]:
    """Element strides of a contiguous array of `shape` read broadcast to out_shape (0 where repeated)."""
    shape = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    return [0 if d == 1 and o != 1 else s for d, o, s in zip(shape, out_shape, _contiguous_strides(shape))]


def _view_geometry(base: np.ndarray, view: np.ndarray):
    """(offset, dims, strides) in elements of `view` inside the contiguous `base` (strides may be
    negative: a Slice with negative steps walks backwards)."""
    if view.size and not np.shares_memory(base, view):
        raise NotLowered("the op copies instead of viewing its input")
    item = base.itemsize
    off = (view.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // item
    return off, list(view.shape), [s // item for s in view.strides]


class NativeExecutor(Executor):
    """Executor whose steps run in C; see the module docstring. Same interface as Executor."""

    ENGINE = "native"

    def __init__(self, graph, conv="auto", backend="c", threads=1, overrides=None, reuse=True):
        why = unavailable()
        if why:
            raise ConvlabError(f"the native engine needs the C extension: {why}")
        super().__init__(graph, conv=conv, backend=backend, threads=threads, overrides=overrides, reuse=reuse)
        self.threads = threads
        self._compile()

    # ---- arena: graph inputs live in it too, and every op writes while its inputs are live
    def _input_lifetimes(self) -> bool:
        return True

    def _write_time(self, k: int, step: Step) -> int:
        # An element-wise op may take its dying input's bytes (the C loop runs backwards when the
        # output lands above the input); every other C op writes while it still reads its inputs.
        return 2 * k + (step.spec is None and step.node.op in UNARY)

    # ---- compile
    def _off(self, name: str) -> int:
        """Float offset of a float32 tensor in the arena."""
        if name not in self.root or self.root[name] not in self.arena.offsets:
            raise NotLowered(f"{name!r} is not a float32 activation")
        return self.arena.offsets[self.root[name]] // 4

    def _shape(self, name: str):
        return tuple(self.graph.shapes[name][0])

    def _const(self, name: str):
        return self.graph.consts.get(name)

    def _compile(self) -> None:
        ffi, lib = cbackend.ffi, cbackend.lib
        self._consts = _Consts()
        records, self.lowered = [], []     # lowered[k]: (first record, record count) or a reason string
        for step in self.steps:
            try:
                recs = self._lower(step)
            except NotLowered as e:
                self.lowered.append(str(e))
                step.host_note = str(e)
                continue
            self.lowered.append((len(records), len(recs)))
            records.extend(recs)
            step.host = "c"
            if step.spec is None:
                step.kernel = "c" if recs else "view"
        for step, low in zip(self.steps, self.lowered):
            if isinstance(low, tuple) and step.spec is not None:
                step.run = None     # the C engine holds this layer's packed weights now
        self.blob = self._consts.blob()
        n = len(records)
        self.c_steps = ffi.new("cl_step[]", max(n, 1))
        for k, r in enumerate(records):
            s = self.c_steps[k]
            s.op, s.sub, s.act = r["op"], r.get("sub", 0), r.get("act", 0)
            ins = list(r.get("in", [])) + [-1] * (3 - len(r.get("in", [])))
            cst = list(r.get("cst", [])) + [-1] * (4 - len(r.get("cst", [])))
            for j in range(3):
                getattr(s, "in")[j] = ins[j]
            s.out = r["out"]
            for j in range(4):
                s.cst[j] = cst[j]
            for j, v in enumerate(r.get("i", [])):
                s.i[j] = int(v)
            for j, v in enumerate(r.get("f", [])):
                s.f[j] = float(v)
        engine, bad = ffi.new("cl_engine **"), ffi.new("int *")
        why = ffi.new("char[]", 256)
        rc = lib.cl_engine_create(self.c_steps, n, ffi.from_buffer("unsigned char[]", self.blob), self.blob.nbytes,
                                  self.arena.buffer.size, engine, bad, why, 256)
        if rc != lib.CL_OK:
            if rc == lib.CL_ENOMEM:
                raise MemoryError("native engine: out of memory preparing the kernels")
            raise ConvlabError(f"native engine refused compiled step {bad[0]}: {ffi.string(why).decode()} "
                               "(this is a convlab bug)")
        self.engine = ffi.gc(engine[0], lib.cl_engine_free)
        self.n_records = n
        self.segments = self._segments()
        self._arena_ptr = ffi.from_buffer("float[]", self.arena.buffer)
        self._failed = ffi.new("int *")
        buf = self.arena.buffer
        self.tensor_views = {}        # every float32 activation, views (Reshape outputs) included
        for name, root in self.root.items():
            shape = self._shape(name)
            at = self.arena.offsets[root] // 4
            self.tensor_views[name] = buf[at:at + int(np.prod(shape, dtype=np.int64))].reshape(shape)
        views = self.tensor_views
        # Every step in C with inputs and outputs in the arena (the usual case): run() is feed, one
        # call, copy out. Decided once: MTCNN's R-Net takes 0.11 ms, so microseconds of Python count.
        self._all_c = (len(self.segments) == 1 and isinstance(self.segments[0], tuple)
                       and all(name in views for name in self.graph.inputs) and all(o in views for o in self.graph.outputs))
        self._feed_views = [views[name] for name in self.graph.inputs] if self._all_c else []
        self._output_views = [(o, views[o]) for o in self.graph.outputs] if self._all_c else []

    def _segments(self):
        """[(first record, last record) | step index]: C ranges between the Python steps."""
        out, start = [], 0
        for k, low in enumerate(self.lowered):
            if isinstance(low, str):
                end = self._records_before(k)
                if end > start:
                    out.append((start, end))
                out.append(k)
                start = end
        if self.n_records > start:
            out.append((start, self.n_records))
        return out

    def _records_before(self, k: int) -> int:
        for low in reversed(self.lowered[:k]):
            if isinstance(low, tuple):
                return low[0] + low[1]
        return 0

    # ---- lowering, one function per op family
    def _lower(self, step: Step) -> list[dict]:
        n = step.node
        for o in n.outputs:
            if o and self.graph.shapes[o][1] != np.float32:
                raise NotLowered(f"output {o!r} is {self.graph.shapes[o][1]}, the C ops are float32")
        if step.spec is not None:
            return self._lower_conv(step)
        if n.op in VIEW_OPS:
            if self.root.get(n.outputs[0]) != self.root.get(n.inputs[0]) or n.inputs[0] not in self.root:
                raise NotLowered("a view of a tensor outside the arena")
            return []
        fn = getattr(self, f"_lower_{n.op}", None)
        if fn is None:
            if n.op in BINARY:
                return self._lower_binary(step)
            if n.op in UNARY:
                return self._lower_unary(step)
            raise NotLowered(f"no C lowering for {n.op}")
        return fn(step)

    def _lower_conv(self, step: Step) -> list[dict]:
        plan, spec, n = step.run, step.spec, step.node
        if plan.backend != "c" or plan.algo not in CONV_ALGOS:
            raise NotLowered(f"{plan.algo}/{plan.backend} is not a C kernel")
        x = self._shape(n.inputs[0])
        oh, ow = spec.output_hw(*x[2:])
        t, l, b, r = spec.padding
        w = np.ascontiguousarray(self.graph.consts[n.input(1)], np.float32)
        cst = [self._consts.add(w)]
        cst.append(self._consts.add(np.ascontiguousarray(self.graph.consts[n.input(2)], np.float32))
                   if n.input(2) else -1)
        act = spec.activation
        cst.append(self._consts.add(act.slopes_for(spec.c_out)) if act.kind in ("prelu", "leaky_relu") else -1)
        geometry = [x[0], spec.c_in, x[2], x[3], spec.c_out, spec.kh, spec.kw, spec.groups, *spec.stride,
                    *spec.dilation, t, l, b, r, oh, ow]
        return [dict(op=OP_CONV, sub=CONV_ALGOS[plan.algo], act=act.code, **{"in": [self._off(n.inputs[0])]},
                     out=self._off(n.outputs[0]), cst=cst, i=geometry)]

    def _operand(self, name: str, out_shape):
        """(arena offset or -1, const offset or -1, strides) of a binary op's operand."""
        c = self._const(name)
        if c is not None:
            if c.dtype != np.float32:
                raise NotLowered(f"constant {name!r} is {c.dtype}")
            return -1, self._consts.add(c), _broadcast_strides(c.shape, out_shape)
        return self._off(name), -1, _broadcast_strides(self._shape(name), out_shape)

    def _lower_binary(self, step: Step) -> list[dict]:
        n = step.node
        if len(n.inputs) != 2:
            raise NotLowered(f"{n.op} of {len(n.inputs)} inputs")
        out_shape = self._shape(n.outputs[0])
        (ia, ca, sa), (ib, cb, sb) = (self._operand(i, out_shape) for i in n.inputs)
        dims, (sa, sb) = _collapse(list(out_shape), sa, sb)
        return [dict(op=OP_BINARY, sub=BINARY[n.op], **{"in": [ia, ib]}, out=self._off(n.outputs[0]),
                     cst=[ca, cb], i=_dims_fields(dims, sa, sb))]

    def _lower_unary(self, step: Step) -> list[dict]:
        n = step.node
        size = int(np.prod(self._shape(n.outputs[0]), dtype=np.int64))
        if size > _INT_MAX:
            raise NotLowered("more than 2**31 - 1 elements")
        f = []
        if n.op == "Clip":
            lo, hi = clip_bounds(n, [self._const(i) if i else None for i in n.inputs], self.graph.opset)
            if any(i and self._const(i) is None for i in n.inputs[1:]):
                raise NotLowered("Clip bounds that are not constants")
            f = [max(lo, -np.finfo(np.float32).max), min(hi, np.finfo(np.float32).max)]
        elif n.op == "LeakyRelu":
            f = [n.attr("alpha", 0.01)]
        elif n.op == "HardSigmoid":
            f = [n.attr("alpha", 0.2), n.attr("beta", 0.5)]
        return [dict(op=OP_UNARY, sub=UNARY[n.op], **{"in": [self._off(n.inputs[0])]},
                     out=self._off(n.outputs[0]), i=[size], f=f)]

    def _lower_BatchNormalization(self, step: Step) -> list[dict]:
        """A BN the passes could not fold (after a ConvTranspose, or a graph input): y = x * k + c per
        channel, as two broadcast steps, the second in place."""
        from .ops.linalg import batchnorm_affine
        n = step.node
        params = [self._const(i) for i in n.inputs[1:5]]
        if any(p is None for p in params):
            raise NotLowered("BatchNormalization parameters that are not constants")
        shape = self._shape(n.inputs[0])
        k, c = batchnorm_affine(*params, n.attr("epsilon", 1e-5))
        per_channel = (1, -1) + (1,) * (len(shape) - 2)
        k, c = np.ascontiguousarray(k.reshape(per_channel)), np.ascontiguousarray(c.reshape(per_channel))
        out = self._off(n.outputs[0])
        dims, (sx, sk) = _collapse(list(shape), _contiguous_strides(shape), _broadcast_strides(k.shape, shape))
        _, (sy, sc) = _collapse(list(shape), _contiguous_strides(shape), _broadcast_strides(c.shape, shape))
        return [dict(op=OP_BINARY, sub=BINARY["Mul"], **{"in": [self._off(n.inputs[0]), -1]}, out=out,
                     cst=[-1, self._consts.add(k)], i=_dims_fields(dims, sx, sk)),
                dict(op=OP_BINARY, sub=BINARY["Add"], **{"in": [out, -1]}, out=out,
                     cst=[-1, self._consts.add(c)], i=_dims_fields(dims, sy, sc))]

    def _lower_Softmax(self, step: Step) -> list[dict]:
        n = step.node
        shape = self._shape(n.inputs[0])
        if self.graph.opset < 13:
            axis = n.attr("axis", 1) % len(shape)
            geo = [int(np.prod(shape[:axis])), int(np.prod(shape[axis:])), 1]
        else:
            axis = n.attr("axis", -1) % len(shape)
            geo = [int(np.prod(shape[:axis])), shape[axis], int(np.prod(shape[axis + 1:]))]
        if max(geo) > _INT_MAX:
            raise NotLowered("a softmax extent beyond 2**31 - 1")
        return [dict(op=OP_SOFTMAX, **{"in": [self._off(n.inputs[0])]}, out=self._off(n.outputs[0]), i=geo)]

    def _copy(self, src: int, src_strides, dst: int, dst_strides, dims) -> dict:
        dims, (so, si) = _collapse(list(dims), list(dst_strides), list(src_strides))
        return dict(op=OP_COPY, **{"in": [src]}, out=dst, i=_dims_fields(dims, so, si))

    def _viewed_copy(self, step: Step) -> list[dict]:
        """An op whose Python form returns a strided view of its input: copy that view out."""
        n = step.node
        shape = self._shape(n.inputs[0])
        base = np.empty(shape, np.float32)
        ins = [base] + [self._const(i) if i else None for i in n.inputs[1:]]
        if any(i and self._const(i) is None for i in n.inputs[1:]):
            raise NotLowered(f"{n.op} parameters that are not constants")
        from .ops import OPS
        view = OPS[n.op](n, ins, self.graph.opset)[0]
        off, dims, strides = _view_geometry(base, view)
        if not view.size:
            raise NotLowered("an empty result")
        return [self._copy(self._off(n.inputs[0]) + off, strides, self._off(n.outputs[0]),
                           _contiguous_strides(dims), dims)]

    _lower_Transpose = _viewed_copy
    _lower_Slice = _viewed_copy

    def _lower_Concat(self, step: Step) -> list[dict]:
        n = step.node
        out_shape = self._shape(n.outputs[0])
        axis = n.attr("axis") % len(out_shape)
        outer, inner = int(np.prod(out_shape[:axis])), int(np.prod(out_shape[axis + 1:]))
        total, at, recs = out_shape[axis], 0, []
        dst = self._off(n.outputs[0])
        for i in n.inputs:
            if not i:
                continue
            a = self._shape(i)[axis]
            if a:
                recs.append(self._copy(self._off(i), [a * inner, 1], dst + at * inner, [total * inner, 1],
                                       [outer, a * inner]))
            at += a
        return recs

    def _lower_Split(self, step: Step) -> list[dict]:
        n = step.node
        shape = self._shape(n.inputs[0])
        axis = n.attr("axis", 0) % len(shape)
        outer, inner = int(np.prod(shape[:axis])), int(np.prod(shape[axis + 1:]))
        src, at, recs = self._off(n.inputs[0]), 0, []
        for o in n.outputs:
            a = self._shape(o)[axis]
            if o and a:
                recs.append(self._copy(src + at * inner, [shape[axis] * inner, 1], self._off(o), [a * inner, 1],
                                       [outer, a * inner]))
            at += a
        return recs

    def _lower_Pad(self, step: Step) -> list[dict]:
        from .ops.tensor import pad_widths
        n = step.node
        if n.attr("mode", "constant") != "constant":
            raise NotLowered(f"Pad mode {n.attr('mode')!r}")
        if any(i and self._const(i) is None for i in n.inputs[1:]):
            raise NotLowered("Pad parameters that are not constants")
        shape = self._shape(n.inputs[0])
        width, value = pad_widths(n, [None] + [self._const(i) if i else None for i in n.inputs[1:]],
                                  self.graph.opset, len(shape))
        if min(min(w) for w in width) < 0:
            raise NotLowered("negative pads")
        out_shape = self._shape(n.outputs[0])
        base = np.empty(out_shape, np.float32)
        off, dims, strides = _view_geometry(base, base[tuple(slice(b, b + d) for (b, _), d in zip(width, shape))])
        dst = self._off(n.outputs[0])
        size = int(np.prod(out_shape))
        if size > _INT_MAX:
            raise NotLowered("more than 2**31 - 1 elements")
        recs = [dict(op=OP_FILL, out=dst, i=[size], f=[value])]
        if int(np.prod(shape)):
            recs.append(self._copy(self._off(n.inputs[0]), _contiguous_strides(shape), dst + off, strides, dims))
        return recs

    def _pool(self, step: Step, kind: int, geo) -> list[dict]:
        n = step.node
        shape = self._shape(n.inputs[0])
        if len(shape) != 4:
            raise NotLowered("only 2-D pooling runs in C")
        (kh, sh, dh, pt, pb, oh), (kw, sw, dw, pl, pr, ow) = geo
        fields = [shape[0] * shape[1], shape[2], shape[3], oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr]
        return [dict(op=OP_POOL, sub=kind, **{"in": [self._off(n.inputs[0])]}, out=self._off(n.outputs[0]),
                     i=fields)]

    def _lower_MaxPool(self, step: Step) -> list[dict]:
        return self._pool(step, POOL_MAX, pool_geometry(step.node, self._shape(step.node.inputs[0])[2:]))

    def _lower_AveragePool(self, step: Step) -> list[dict]:
        kind = POOL_AVG_INCLUDE_PAD if step.node.attr("count_include_pad", 0) else POOL_AVG
        return self._pool(step, kind, pool_geometry(step.node, self._shape(step.node.inputs[0])[2:]))

    def _global(self, step: Step, kind: int) -> list[dict]:
        h, w = self._shape(step.node.inputs[0])[2:] or (1, 1)
        return self._pool(step, kind, [(h, 1, 1, 0, 0, 1), (w, 1, 1, 0, 0, 1)])

    def _lower_GlobalAveragePool(self, step: Step) -> list[dict]:
        return self._global(step, POOL_AVG)

    def _lower_GlobalMaxPool(self, step: Step) -> list[dict]:
        return self._global(step, POOL_MAX)

    def _fc(self, step: Step, x: str, w_nk: np.ndarray, bias) -> list[dict]:
        n = step.node
        xs = self._shape(x)
        rows, k = int(np.prod(xs[:-1])), xs[-1]
        cst = [self._consts.add(np.ascontiguousarray(w_nk, np.float32)),
               -1 if bias is None else self._consts.add(np.ascontiguousarray(bias, np.float32))]
        return [dict(op=OP_FC, **{"in": [self._off(x)]}, out=self._off(n.outputs[0]), cst=cst,
                     i=[rows, k, w_nk.shape[0]])]

    def _lower_Gemm(self, step: Step) -> list[dict]:
        n = step.node
        b = self._const(n.inputs[1])
        if b is None or n.attr("transA", 0) or b.ndim != 2:
            raise NotLowered("Gemm with a non-constant B or transA")
        w = (b if n.attr("transB", 0) else b.T) * np.float32(n.attr("alpha", 1.0))
        bias = None
        if n.input(2):
            c = self._const(n.input(2))
            if c is None or c.size not in (1, w.shape[0]) or (c.ndim == 2 and c.shape[0] != 1):
                raise NotLowered("Gemm's C is not a constant row vector")
            bias = np.broadcast_to(c.reshape(-1) * np.float32(n.attr("beta", 1.0)), (w.shape[0],))
        return self._fc(step, n.inputs[0], w, bias)

    def _lower_MatMul(self, step: Step) -> list[dict]:
        n = step.node
        b = self._const(n.inputs[1])
        if b is None or b.ndim != 2:
            raise NotLowered("MatMul with a non-constant or batched B")
        return self._fc(step, n.inputs[0], b.T, None)

    def _lower_ConvTranspose(self, step: Step) -> list[dict]:
        n = step.node
        w = self._const(n.inputs[1])
        x = self._shape(n.inputs[0])
        if w is None or len(x) != 4:
            raise NotLowered("ConvTranspose with non-constant weights or not 2-D")
        (sh, sw), (dh, dw), ((pt, pb), (pl, pr)), _, (oh, ow) = conv_transpose_geometry(n, x[2:], w.shape)
        g = n.attr("group", 1)
        bias = self._const(n.input(2)) if n.input(2) else None
        cst = [self._consts.add(np.ascontiguousarray(w, np.float32)),
               -1 if bias is None else self._consts.add(np.ascontiguousarray(bias, np.float32))]
        fields = [x[0], x[1], x[2], x[3], w.shape[1] * g, w.shape[2], w.shape[3], g, sh, sw, dh, dw,
                  pt, pl, pb, pr, oh, ow]
        return [dict(op=OP_CONVT, **{"in": [self._off(n.inputs[0])]}, out=self._off(n.outputs[0]), cst=cst,
                     i=fields)]

    def _lower_Resize(self, step: Step) -> list[dict]:
        n = step.node
        shape = self._shape(n.inputs[0])
        if any(i and self._const(i) is None for i in n.inputs[1:]):
            raise NotLowered("Resize scales or sizes that are not constants")
        ins = [None] + [self._const(i) if i else None for i in n.inputs[1:]]
        mode, transform, rounding = resize_settings(n, self.graph.opset)
        scales, sizes = scales_and_sizes(n, ins, self.graph.opset, shape)
        if len(shape) != 4 or sizes[:2] != list(shape[:2]):
            raise NotLowered("only resizing the last two axes of NCHW runs in C")
        tables = []
        for axis in (2, 3):
            n_in, n_out, s = shape[axis], sizes[axis], scales[axis]
            coord = TRANSFORMS[transform](np.arange(n_out, dtype=np.float64), s, n_in, n_out)
            if n_in == n_out and s == 1.0:
                lo = hi = np.arange(n_out)
                frac = np.zeros(n_out)
            elif mode == "nearest":
                lo = hi = np.clip(ROUNDING[rounding](coord), 0, n_in - 1).astype(np.int64)
                frac = np.zeros(n_out)
            else:
                coord = np.clip(coord, 0, n_in - 1)
                lo = np.floor(coord).astype(np.int64)
                hi = np.minimum(lo + 1, n_in - 1)
                frac = (coord - lo).astype(np.float32)
            table = np.concatenate([lo.astype(np.int32), hi.astype(np.int32), np.asarray(frac, np.float32).view(np.int32)])
            tables.append(self._consts.add(table))
        return [dict(op=OP_RESIZE, sub=0 if mode == "nearest" else 1, **{"in": [self._off(n.inputs[0])]},
                     out=self._off(n.outputs[0]), cst=tables,
                     i=[shape[0] * shape[1], shape[2], shape[3], sizes[2], sizes[3]])]

    _lower_Upsample = _lower_Resize

    # ---- plan files
    def plan_bytes(self, target: str = "host") -> bytes:
        """This model as a .clp plan file for `target` ("x86-64", "aarch64" or "host"): what
        convlab-run loads (cl_engine.h documents the layout). Every step must run in C."""
        left = [(s.node.name, s.node.op, s.host_note) for s in self.steps if s.host != "c"]
        if left:
            raise ConvlabError("cannot compile a plan: these nodes have no C lowering: "
                               + "; ".join(f"{n} ({op}): {why}" for n, op, why in left))
        ffi, lib = cbackend.ffi, cbackend.lib
        code = plan_target(target)
        header = ffi.new("cl_plan_header *")
        ffi.memmove(header.magic, b"CLPLAN\0\0", 8)
        labels = bytearray()
        for step, low in zip(self.steps, self.lowered):
            for _ in range(low[1]):
                labels += f"{step.node.name}:{step.node.op}:{step.kernel}".encode()[:63].ljust(64, b"\0")
        g = self.graph
        tensors = []
        for names in (list(g.inputs), list(g.outputs)):
            for name in names:
                t = ffi.new("cl_plan_tensor *")
                shape = self._shape(name)
                if name not in self.root or len(shape) > 8:
                    raise ConvlabError(f"cannot compile a plan: {name!r} is not a float32 tensor of rank <= 8")
                ffi.memmove(t.name, name.encode()[:63], min(len(name.encode()), 63))
                t.offset, t.ndim = self._off(name), len(shape)
                for k, d in enumerate(shape):
                    t.dims[k] = d
                tensors.append(bytes(ffi.buffer(t)))
        steps = bytes(ffi.buffer(self.c_steps, ffi.sizeof("cl_step") * self.n_records))
        body = b"".join(tensors) + bytes(labels) + steps
        start = ffi.sizeof("cl_plan_header")
        body += b"\0" * (-(start + len(body)) % 64) + self.blob.tobytes()
        header.version, header.target, header.step_bytes = lib.CL_PLAN_VERSION, code, ffi.sizeof("cl_step")
        header.nsteps, header.ninputs, header.noutputs = self.n_records, len(g.inputs), len(g.outputs)
        header.arena_floats, header.const_bytes = self.arena.buffer.size, self.blob.nbytes
        header.checksum = lib.cl_plan_checksum(body, len(body))
        return bytes(ffi.buffer(header)) + body

    # ---- run
    def run(self, feeds, clock: list | None = None, timer=time.perf_counter) -> dict[str, np.ndarray]:
        ffi, lib = cbackend.ffi, cbackend.lib
        g, views = self.graph, self.tensor_views
        feeds = self.check_feeds(feeds)
        if clock is None and self._all_c:
            for view, x in zip(self._feed_views, feeds.values()):
                np.copyto(view, x)
            rc = lib.cl_engine_run(self.engine, self._arena_ptr, 0, self.n_records, self.threads, ffi.NULL, 0,
                                   self._failed)
            if rc != lib.CL_OK:
                self._raise(rc, self._failed[0])
            return {o: view.copy() for o, view in self._output_views}
        values = dict(g.consts)
        for name, x in feeds.items():
            if name in views:
                np.copyto(views[name], x)
            else:
                values[name] = x
        values.update(views)
        seconds = ffi.new("double[]", max(self.n_records, 1)) if clock is not None else ffi.NULL
        code = lib.CL_CLOCK_THREAD_CPU if timer is time.thread_time else lib.CL_CLOCK_WALL
        py_times = {}
        failed = self._failed
        for seg in self.segments:
            if isinstance(seg, tuple):
                rc = lib.cl_engine_run(self.engine, self._arena_ptr, seg[0], seg[1], self.threads, seconds, code, failed)
                if rc != lib.CL_OK:
                    self._raise(rc, failed[0])
                continue
            t0 = timer() if clock is not None else 0.0
            self._run_python(self.steps[seg], values)
            if clock is not None:
                py_times[seg] = timer() - t0
        if clock is not None:
            secs = np.frombuffer(ffi.buffer(seconds), np.float64)
            for k, low in enumerate(self.lowered):
                clock.append(py_times[k] if isinstance(low, str) else float(secs[low[0]:low[0] + low[1]].sum()))
        return {o: np.array(values[o], copy=True) for o in g.outputs}

    def _run_python(self, step: Step, values: dict) -> None:
        n, views = step.node, self.tensor_views
        if step.spec is not None:
            step.run(values[n.inputs[0]], out=views[n.outputs[0]])
            return
        results = step.run(n, [values[i] if i else None for i in n.inputs], self.graph.opset)
        for o, r in zip(n.outputs, results):
            if o in views:
                np.copyto(views[o], r)     # views of o (a Reshape after it) share these bytes
            elif o:
                values[o] = r

    def _raise(self, rc: int, k: int) -> None:
        record_step = next(i for i, low in enumerate(self.lowered)
                           if isinstance(low, tuple) and low[0] <= k < low[0] + low[1])
        name = self.steps[record_step].node.name
        if rc == cbackend.lib.CL_ENOMEM:
            raise MemoryError(f"native engine: out of memory in node {name!r}")
        raise ConvlabError(f"native engine: node {name!r} failed (code {rc}); this is a convlab bug")
