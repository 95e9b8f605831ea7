"""Per-layer A/B of cl_gemm's paths on 1x1 convs, interleaved in one process, thread CPU time.
usage: layers.py [reps] [paths...]  (paths: packed wide narrow auto)"""
import sys
import time

import numpy as np

from convlab.api import ConvPlan
from convlab.kernels.c._ffi import lib
from convlab.spec import ConvSpec

PATHS = {"auto": lib.CL_GEMM_AUTO, "packed": lib.CL_GEMM_PACKED, "wide": lib.CL_GEMM_WIDE,
         "narrow": lib.CL_GEMM_NARROW, "long": lib.CL_GEMM_LONG}
SHAPES = [  # c_in, c_out, h, w, where
    (32, 16, 240, 400, "centerface"), (144, 24, 120, 200, "centerface"), (96, 24, 120, 200, "centerface"),
    (192, 32, 60, 100, "centerface"), (16, 96, 240, 400, "centerface"), (24, 144, 120, 200, "centerface"),
    (64, 128, 56, 56, "mbv1"), (128, 128, 56, 56, "mbv1"), (128, 256, 28, 28, "mbv1"), (256, 256, 28, 28, "mbv1"),
    (256, 512, 14, 14, "mbv1"), (512, 512, 14, 14, "mbv1"), (512, 1024, 7, 7, "mbv1"), (1024, 1024, 7, 7, "mbv1"),
]


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    paths = sys.argv[2:] or ["packed", "wide", "narrow", "auto"]
    shapes = SHAPES
    rng = np.random.default_rng(0)
    print(f"{'shape':>26} " + " ".join(f"{p:>9}" for p in paths) + "  GFLOP/s(best)  ratios vs packed")
    for ci, co, h, w, where in shapes:
        spec = ConvSpec.build(ci, co, 1, 1, activation="relu", has_bias=True)
        x = rng.standard_normal((1, ci, h, w), dtype=np.float32)
        wt = rng.standard_normal(spec.weight_shape, dtype=np.float32)
        plan = ConvPlan.from_spec(spec, wt, rng.standard_normal(co, dtype=np.float32), algo="im2col",
                                  backend="c", threads=1)
        run = plan.bind(x)
        times = {p: [] for p in paths}
        outs = {}
        for r in range(reps + 3):
            for p in paths:
                lib.cl_gemm_force_path(PATHS[p])
                t0 = time.thread_time()
                y = run()
                dt = time.thread_time() - t0
                if r >= 3:
                    times[p].append(dt)
                else:
                    outs[p] = y.copy()
        lib.cl_gemm_force_path(lib.CL_GEMM_AUTO)
        ref = outs[paths[0]]
        for p in paths:
            assert np.array_equal(outs[p], ref), (p, ci, co, h, w)
        med = {p: np.median(times[p]) * 1e3 for p in paths}
        flops = 2 * ci * co * h * w
        best = min(med.values())
        base = med.get("packed", med[paths[0]])
        print(f"{ci:5}->{co:<5}@{h}x{w:<4}{where:>6} " + " ".join(f"{med[p]:9.3f}" for p in paths)
              + f"  {flops / best / 1e6:8.1f}      " + " ".join(f"{med[p] / base:.2f}" for p in paths), flush=True)


if __name__ == "__main__":
    main()
