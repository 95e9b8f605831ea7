"""A/B of the depthwise 3x3 kernel: this tree's convlab._native against a saved build (another
copy of the extension, loaded in the same process under another name), interleaved, thread CPU
time, medians; optionally onnxruntime's conv on the same shape.

    PYTHONPATH=src .venv/bin/python experiments/dw_s2/ab.py BASE.so [--ort] [--act relu]
"""
from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import statistics
import time

import numpy as np

from convlab import _native as new

# (c, h, w, stride, (pt, pl, pb, pr)): the slow layers of the brief, then the grids' corners
SHAPES = [
    (128, 56, 56, 2, (1, 1, 1, 1)), (256, 28, 28, 2, (1, 1, 1, 1)), (512, 14, 14, 2, (1, 1, 1, 1)),
    (64, 112, 112, 2, (1, 1, 1, 1)), (96, 240, 400, 2, (1, 1, 1, 1)), (144, 120, 200, 2, (1, 1, 1, 1)),
    (144, 120, 200, 1, (1, 1, 1, 1)), (32, 240, 400, 1, (1, 1, 1, 1)), (512, 14, 14, 1, (1, 1, 1, 1)),
    (32, 28, 28, 2, (1, 1, 1, 1)), (128, 112, 112, 2, (1, 1, 1, 1)), (32, 112, 112, 1, (1, 1, 1, 1)),
    (128, 28, 28, 1, (1, 1, 1, 1)), (576, 14, 14, 2, (0, 0, 1, 1)),
]


def load(path):
    loader = importlib.machinery.ExtensionFileLoader("base._native", path)
    spec = importlib.util.spec_from_file_location("base._native", path, loader=loader)
    m = importlib.util.module_from_spec(spec)
    loader.exec_module(m)
    return m


def runner(mod, c, h, w, s, pad, act, threads=1):
    ffi, lib = mod.ffi, mod.lib
    pt, pl, pb, pr = pad
    oh, ow = (h + pt + pb - 3) // s + 1, (w + pl + pr - 3) // s + 1
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, c, h, w), dtype=np.float32)
    wt = rng.standard_normal((c, 1, 3, 3), dtype=np.float32)
    b = rng.standard_normal(c, dtype=np.float32)
    sl = np.full(c, 0.25, np.float32)
    y = np.zeros((1, c, oh, ow), np.float32)
    sh = ffi.new("cl_conv_shape *", dict(n=1, c_in=c, h=h, w=w, c_out=c, kh=3, kw=3, groups=c, sh=s, sw=s,
                                          dh=1, dw=1, pt=pt, pl=pl, pb=pb, pr=pr, oh=oh, ow=ow))
    ep = ffi.new("cl_epilogue *", {"bias": ffi.from_buffer("float[]", b), "slope": ffi.from_buffer("float[]", sl),
                                   "act": act})
    px, pw, py = (ffi.from_buffer("float[]", a) for a in (x, wt, y))
    keep = (x, wt, b, sl, y, sh, ep)

    def call():
        assert lib.cl_dwconv_run(sh, px, pw, py, ep, threads) == 0
        return keep
    return call, x, wt, b, y


def ort_runner(c, h, w, s, pad, x, wt, b):
    from onnx import TensorProto, helper, numpy_helper
    from convlab.peers.onnxruntime_conv import ort_session
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], group=c, strides=[s, s], pads=[pad[0], pad[1], pad[2], pad[3]],
                            kernel_shape=[3, 3])
    g = helper.make_graph([node], "dw", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(wt, "w"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    sess = ort_session(m.SerializeToString(), 1)
    return lambda: sess.run(None, {"x": x})


def clock(fn, reps):
    ts = []
    for _ in range(reps):
        t = time.thread_time()
        fn()
        ts.append(time.thread_time() - t)
    return ts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("--ort", action="store_true")
    ap.add_argument("--act", type=int, default=1, help="the epilogue's CL_ACT_* code (1: relu)")
    ap.add_argument("--repeat", type=int, default=31)
    ap.add_argument("--only", type=int, nargs="*")
    a = ap.parse_args()
    base = load(a.base)
    print(f"{'shape':<32} {'base ms':>9} {'new ms':>9} {'new/base':>8}" + (f" {'ort ms':>8} {'new/ort':>8}" if a.ort else ""))
    ratios = []
    for i, (c, h, w, s, pad) in enumerate(SHAPES):
        if a.only and i not in a.only:
            continue
        fb, _, _, _, yb = runner(base, c, h, w, s, pad, a.act)
        fn, x, wt, b, yn = runner(new, c, h, w, s, pad, a.act)
        fb(), fn()
        assert np.allclose(yb, yn, rtol=1e-5, atol=1e-5), (c, h, w, s, np.abs(yb - yn).max())
        fo = ort_runner(c, h, w, s, pad, x, wt, b) if a.ort else None
        # reps scaled so one measurement is >= ~0.2 ms of work
        inner = max(1, int(2e-4 / max(min(clock(fn, 3)), 1e-6)))
        def rep(f):
            return lambda: [f() for _ in range(inner)]
        fs = [rep(fb), rep(fn)] + ([rep(fo)] if fo else [])
        for f in fs:
            clock(f, 3)
        t = [[] for _ in fs]
        for _ in range(a.repeat):
            for j, f in enumerate(fs):
                t[j] += clock(f, 1)
        med = [statistics.median(v) / inner * 1e3 for v in t]
        ratios.append(med[1] / med[0])
        line = f"{c}ch {h}x{w} s{s} p{pad}".ljust(32) + f" {med[0]:9.4f} {med[1]:9.4f} {med[1] / med[0]:8.3f}"
        if fo:
            line += f" {med[2]:8.4f} {med[1] / med[2]:8.3f}"
        print(line, flush=True)
    print("geomean new/base", statistics.geometric_mean(ratios))


if __name__ == "__main__":
    main()
