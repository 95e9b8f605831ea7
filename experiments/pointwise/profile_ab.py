"""Per-layer A/B of a model's im2col/c convs (its 1x1 convs): the engine profile (thread CPU time) with cl_gemm forced to
the packed path and with its rule, alternated in one process. usage: profile_ab.py MODEL [HxW] [rounds]"""
import sys
from collections import defaultdict

import numpy as np

from convlab.engine import Model
from convlab.kernels.c._ffi import lib


def main():
    path = sys.argv[1]
    data = open(path, "rb").read()
    inp = next(iter(Model.load(data).inputs))
    shape = None
    if len(sys.argv) > 2 and sys.argv[2] != "-":
        h, w = map(int, sys.argv[2].split("x"))
        shape = {inp: (1, 3, h, w)}
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    model = Model.load(data, shape)
    ms = {p: defaultdict(list) for p in ("packed", "rule")}
    rows = {}
    for _ in range(rounds):
        for name, code in (("packed", lib.CL_GEMM_PACKED), ("rule", lib.CL_GEMM_AUTO)):
            lib.cl_gemm_force_path(code)
            for r in model.profile(repeat=10, clock="cpu").rows:
                if r["kernel"] == "im2col/c":
                    ms[name][r["layer"]].append(r["ms"])
                    rows[r["layer"]] = r
    lib.cl_gemm_force_path(lib.CL_GEMM_AUTO)
    tot = {"packed": 0.0, "rule": 0.0}
    print(f"{'layer':>10} {'input':>16} {'output':>16} {'packed ms':>9} {'rule ms':>8} {'ratio':>6}")
    for layer, r in rows.items():
        p, q = np.median(ms["packed"][layer]), np.median(ms["rule"][layer])
        tot["packed"] += p
        tot["rule"] += q
        print(f"{layer:>10} {r['input']:>16} {r['output']:>16} {p:9.3f} {q:8.3f} {q / p:6.2f}")
    print(f"{'im2col/c total':>44} {tot['packed']:9.2f} {tot['rule']:8.2f} {tot['rule'] / tot['packed']:6.2f}")


if __name__ == "__main__":
    main()
