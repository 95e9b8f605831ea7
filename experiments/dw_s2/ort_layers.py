"""onnxruntime's own per-node times (its profiler) for a model's depthwise convs (weights C x 1 x k x k),
1 thread, to set beside Model.profile's: median of the node's kernel time over the runs.

    PYTHONPATH=src .venv/bin/python experiments/dw_s2/ort_layers.py MODEL.onnx [RUNS]
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile

import numpy as np
import onnxruntime as ort

from convlab.bench.models import ort_model_bytes


def main():
    path, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30
    data, _ = ort_model_bytes(open(path, "rb").read())
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
    sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    feeds = {i.name: np.random.default_rng(0).standard_normal(
        [d if isinstance(d, int) else 1 for d in i.shape]).astype(np.float32) for i in sess.get_inputs()}
    for _ in range(runs):
        sess.run(None, feeds)
    times, shapes = {}, {}
    for e in json.load(open(sess.end_profiling())):
        args = e.get("args", {})
        if e.get("cat") != "Node" or args.get("op_name") != "Conv":
            continue
        ins = [next(iter(t.values())) for t in args.get("input_type_shape", [])]
        if len(ins) > 1 and len(ins[1]) == 4 and ins[1][1] == 1 and ins[1][0] > 1:   # depthwise: C x 1 x k x k
            times.setdefault(e["name"], []).append(e["dur"] / 1e3)
            shapes[e["name"]] = (ins[0], next(iter(args["output_type_shape"][0].values())))
    for node, ts in times.items():
        i, o = shapes[node]
        print(f"{node:<36} {'x'.join(map(str, i)):>16} -> {'x'.join(map(str, o)):<16} {statistics.median(ts[3:]):.3f} ms")
    print(f"depthwise total {sum(statistics.median(ts[3:]) for ts in times.values()):.3f} ms")


if __name__ == "__main__":
    main()
