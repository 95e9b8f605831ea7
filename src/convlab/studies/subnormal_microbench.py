"""Per-operation cost of float32 subnormal operands and results, with and without FTZ/DAZ.

Numba kernels over an L1-resident array (4096 floats): `mul` computes out[i] = x[i] * c and `fma`
out[i] = x[i] * c + d (contracted to one FMA), both vectorised by LLVM (AVX-512 here); `dot (scalar)`
sums x[i] * c into d one element at a time (scalar, latency-bound, as an unvectorised conv loop
accumulates). The operand cases isolate where a subnormal appears:
    normal         x ~ 1,          c = 1.5,    result normal
    subnormal in   x subnormal,    c = 2^40,   result normal     (the input is subnormal)
    subnormal out  x ~ 2^-120,     c = 2^-10,  result subnormal  (the result is subnormal)
    subnormal both x subnormal,    c = 1.5,    result subnormal  (a subnormal weight times an activation)
Each runs in the default floating-point environment and under `fpenv.flush_denormals()`.

The environment is per thread (MXCSR on x86): Numba's JIT code runs on the calling thread and
neither sets nor saves it, so FTZ/DAZ set by `convlab.fpenv` applies inside. `probe` checks this
from inside a Numba kernel, by behaviour (a tiny product flushed to 0 = FTZ, a subnormal input
comparing equal to 0 = DAZ) and, on x86, by reading MXCSR itself (stmxcsr).
"""
from __future__ import annotations

import platform

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from ..bench.timing import time_interleaved

N = 4096
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i686")
MXCSR_DAZ, MXCSR_FTZ = 1 << 6, 1 << 15


@intrinsic
def _stmxcsr(typingctx):
    def codegen(context, builder, signature, args):
        slot = cgutils.alloca_once(builder, ir.IntType(32))
        fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse.stmxcsr")
        builder.call(fn, [builder.bitcast(slot, ir.IntType(8).as_pointer())])
        return builder.load(slot)
    return types.uint32(), codegen


@numba.njit
def _read_mxcsr():
    return _stmxcsr()


@numba.njit
def _behaviour(a, out):
    # Operands and results go through float32 memory: no conversion or compare of a subnormal
    # (which FTZ or DAZ would alter on its own) happens outside the operation under test.
    out[0] = a[0] * a[1]        # normal * 0.3 -> subnormal, or 0 under FTZ
    out[1] = a[2] * a[3]        # subnormal * 2^40 -> normal, or 0 under DAZ


def probe() -> dict:
    """What a Numba kernel sees: {"ftz": flushed results?, "daz": subnormal inputs read as 0?, "mxcsr": int or None}."""
    a = np.array([np.finfo(np.float32).tiny, 0.3, 0, 2.0 ** 40], np.float32)
    a.view(np.uint32)[2] = 1 << 20                  # a subnormal, written as bits
    out = np.ones(2, np.float32)
    _behaviour(a, out)
    bits = out.view(np.uint32) & 0x7FFFFFFF          # integer tests: DAZ cannot touch them
    return {"ftz": bool(bits[0] == 0), "daz": bool(bits[1] == 0), "mxcsr": f"{int(_read_mxcsr()):#06x}" if _X86 else None}


@numba.njit(cache=True)
def _mul(x, c, d, out):
    for i in range(x.shape[0]):
        out[i] = x[i] * c


@numba.njit(cache=True, fastmath={"contract"})
def _fma(x, c, d, out):
    for i in range(x.shape[0]):
        out[i] = x[i] * c + d


@numba.njit(cache=True)
def _dot(x, c, d, out):
    # Not vectorised (no reassociation allowed): a scalar multiply and a dependent add per element,
    # a conv's accumulation of weight x activation into a normal partial sum.
    acc = d
    for i in range(x.shape[0]):
        acc += x[i] * c
    out[0] = acc


OPS = {"mul": _mul, "fma": _fma, "dot (scalar)": _dot}


def operands(case: str, rng) -> tuple[np.ndarray, np.float32, np.float32]:
    """(x, c, d) for an operand case; d = 0 keeps a subnormal product subnormal after the FMA's add
    (and the dot's sum of subnormal products grows normal after a few terms)."""
    sub = (rng.integers(1, 1 << 23, N, dtype=np.uint32)).view(np.float32)     # positive subnormals
    near = rng.uniform(1, 2, N).astype(np.float32)
    x, c = {"normal": (near, 1.5), "subnormal in": (sub, 2.0 ** 40), "subnormal out": (near * np.float32(2.0 ** -120), 2.0 ** -10),
            "subnormal both": (sub, 1.5)}[case]
    return np.ascontiguousarray(x), np.float32(c), np.float32(0.0)


CASES = ("normal", "subnormal in", "subnormal out", "subnormal both")


def run(repeats: int = 9, max_time: float = 20.0) -> tuple[list[dict], list[dict]]:
    """(timing rows: ns per element per op x case x mode, probe rows: what the kernel saw per mode)."""
    from .. import fpenv
    rng = np.random.default_rng(0)
    data = {case: operands(case, rng) for case in CASES}
    out = np.empty(N, np.float32)
    rows, probes = [], []
    for mode in ("default", "ftz+daz"):
        flush = mode == "ftz+daz"
        old = fpenv.set(flush, flush)
        try:
            probes.append({"mode": mode, **probe(), "fpenv": str(fpenv.get())})
            for op, fn in OPS.items():                    # results first: the check must not be timed
                for case, (x, c, d) in data.items():
                    out[:] = 1            # what an op does not write (all but out[0] for the dot) counts as normal
                    fn(x, c, d, out)
                    rows.append({"op": op, "case": case, "mode": mode, "result_subnormal": _subnormals(out),
                                 "result_zero": int(np.count_nonzero((out.view(np.uint32) & 0x7FFFFFFF) == 0))})
            fns = {(op, case): (lambda fn=fn, a=a: fn(a[0], a[1], a[2], out))
                   for op, fn in OPS.items() for case, a in data.items()}
            t = time_interleaved(fns, repeats=repeats, max_time=max_time, min_sample=1e-3)
        finally:
            fpenv.set(old.ftz, old.daz)
        for r in rows:
            if r["mode"] == mode:
                tm = t[(r["op"], r["case"])]
                r.update(ns_per_element=tm.median * 1e9 / N, cpu_ns_per_element=tm.cpu_median * 1e9 / N,
                         rel_iqr=tm.rel_iqr)
    for r in rows:
        base = next(b for b in rows if b["op"] == r["op"] and b["mode"] == r["mode"] and b["case"] == "normal")
        r["vs_normal"] = r["cpu_ns_per_element"] / base["cpu_ns_per_element"]
    return rows, probes


def _subnormals(a: np.ndarray) -> int:
    """Counted on the bits: a float compare would itself read subnormals as 0 under DAZ."""
    bits = a.view(np.uint32) & 0x7FFFFFFF
    return int(np.count_nonzero((bits != 0) & (bits < 0x00800000)))
