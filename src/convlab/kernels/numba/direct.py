"""Direct convolution: the loop nest itself, with the innermost loop along an output row.

For each (image, output channel) — the parallel, independent unit — each output row is
accumulated tap by tap: for every input channel of the group and kernel tap, one scaled input row
segment is added to it. That inner loop is contiguous in the output (and in the input at stride
1), so it vectorises. Padding is handled by each tap touching only the in-bounds segment of the
row (tap_range), never by a padded copy of the input.
"""
from __future__ import annotations

from numba import njit, prange

from ...registry import Constraints, KernelEntry, register
from ...spec import ConvSpec
from .epilogue import bias_act, epilogue_args
from .support import numba_threads, tap_range


@njit(cache=True, parallel=True, fastmath={"contract"})
def direct_conv(x, w, groups, sh, sw, pt, pl, dh, dw, bias, code, slopes, out):
    n, _, h, wd = x.shape
    c_out, cig, kh, kw = w.shape
    oh, ow = out.shape[2], out.shape[3]
    cog = c_out // groups
    for job in prange(n * c_out):
        b, oc = job // c_out, job % c_out
        c0 = (oc // cog) * cig
        for oy in range(oh):
            row = out[b, oc, oy]
            row[:] = 0
            for ci in range(cig):
                for i in range(kh):
                    iy = oy * sh - pt + i * dh
                    if iy < 0 or iy >= h:
                        continue
                    src = x[b, c0 + ci, iy]
                    for j in range(kw):
                        off = j * dw - pl
                        lo, hi = tap_range(ow, sw, off, wd)
                        wv = w[oc, ci, i, j]
                        for ox in range(lo, hi):
                            row[ox] += wv * src[ox * sw + off]
            for ox in range(ow):
                row[ox] = bias_act(row[ox], bias[oc], code, slopes[oc])


def prepare(spec: ConvSpec, w, b, threads):
    bias, code, slopes = epilogue_args(spec.activation, b, spec.c_out)
    (sh, sw), (dh, dw), (pt, pl) = spec.stride, spec.dilation, spec.padding[:2]

    def run(x, out):
        with numba_threads(threads):
            direct_conv(x, w, spec.groups, sh, sw, pt, pl, dh, dw, bias, code, slopes, out)
    return run


register(KernelEntry("direct", "numba", prepare, Constraints(),
                     "direct loop nest, parallel over (image, output channel), row-vectorised, padding by bounds"))
