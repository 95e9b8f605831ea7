"""Whole models, 1 thread, thread CPU time, interleaved in one process: convlab with cl_gemm forced
to the packed path (what every 1x1 conv ran before the in-place paths), convlab with its rule, and
onnxruntime on the same model. usage: models.py ZOO_DIR [reps]"""
import os
import sys
import time

import numpy as np

from convlab.bench.models import ort_model_bytes
from convlab.engine import Model
from convlab.kernels.c._ffi import lib
from convlab.peers.onnxruntime_conv import ort_session


def models(zoo):
    for name in ("mobilenet_v1", "mobilenet_v2", "detector", "fitter", "extractor"):
        yield name, os.path.join(zoo, name + ".onnx"), None
    yield "centerface 480x800", os.path.expanduser("~/.cache/convlab/models/centerface.onnx"), (1, 3, 480, 800)


def main():
    zoo, reps = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20
    print(f"{'model':>20} {'packed ms':>10} {'rule ms':>9} {'ort ms':>8} {'rule/packed':>11} {'rule/ort':>9}")
    for name, path, shape in models(zoo):
        data = open(path, "rb").read()
        probe = Model.load(data)
        inp = next(iter(probe.inputs))
        model = Model.load(data, {inp: shape} if shape else None)
        feeds = model.random_inputs()
        sess = ort_session(ort_model_bytes(data)[0], 1)
        runs = {"packed": lambda: (lib.cl_gemm_force_path(lib.CL_GEMM_PACKED), model.run(feeds)),
                "rule": lambda: (lib.cl_gemm_force_path(lib.CL_GEMM_AUTO), model.run(feeds)),
                "ort": lambda: sess.run(None, feeds)}
        times = {k: [] for k in runs}
        for r in range(reps + 2):
            for k, f in runs.items():
                t0 = time.thread_time()
                f()
                if r >= 2:
                    times[k].append(time.thread_time() - t0)
        lib.cl_gemm_force_path(lib.CL_GEMM_AUTO)
        m = {k: np.median(v) * 1e3 for k, v in times.items()}
        print(f"{name:>20} {m['packed']:10.2f} {m['rule']:9.2f} {m['ort']:8.2f} {m['rule'] / m['packed']:11.3f} "
              f"{m['rule'] / m['ort']:9.3f}", flush=True)


if __name__ == "__main__":
    main()
