"""`convlab compare MODEL.onnx`: convlab vs onnxruntime on the same input — errors and latency ratio."""
from __future__ import annotations

import json
import time

import numpy as np
import onnx

from . import cliargs
from ..errors import ConvlabError
from ..engine.loader import read_model
from ..peers.onnxruntime_conv import ort_session as peer_session


def register(subparsers) -> None:
    p = subparsers.add_parser("compare", help="run an ONNX model in convlab and onnxruntime on the same input")
    cliargs.add_model_args(p)
    cliargs.add_input_arg(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=5, help="timed runs of each (medians, interleaved)")
    p.set_defaults(func=run)


def _inputs(model, arrays: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """Random inputs of the model's (fixed) shapes, replaced by the --input arrays given."""
    return {**model.random_inputs(seed), **arrays}


def ort_session(path: str, threads: int, input_shapes: dict | None = None):
    """onnxruntime on the model file, with `input_shapes` (as fixed by --shape) written into its inputs."""
    if input_shapes:
        model = read_model(path)
        for vi in model.graph.input:
            if vi.name in input_shapes:
                dims = vi.type.tensor_type.shape.dim
                del dims[:]
                dims.extend(onnx.TensorShapeProto.Dimension(dim_value=d) for d in input_shapes[vi.name])
        del model.graph.value_info[:]           # inferred shapes for the old size would contradict
        for vi in model.graph.output:
            vi.type.tensor_type.ClearField("shape")
        path = model.SerializeToString()
    return peer_session(path, threads)


def compare(model, session, feeds: dict, repeat: int) -> dict:
    """Errors per output and median latencies (interleaved runs, after one warm-up of each)."""
    ours = model.run(feeds)
    names = [o.name for o in session.get_outputs()]
    theirs = dict(zip(names, session.run(None, feeds)))
    outputs = []
    for name in model.outputs:
        a, b = ours[name], theirs[name]
        if a.shape != b.shape:
            outputs.append({"output": name, "shape": list(a.shape), "error": f"shape {a.shape} vs onnxruntime {b.shape}"})
            continue
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
        scale = float(np.abs(b).max()) if b.size else 0.0
        outputs.append({"output": name, "shape": list(a.shape), "max_abs": float(diff.max()) if diff.size else 0.0,
                        "max_rel": float(diff.max() / scale) if scale else float(diff.max() if diff.size else 0.0),
                        "max_abs_ref": scale})
    # Interleaved, timed in wall and in thread CPU time (both runtimes run on this thread with
    # threads=1; CPU time leaves out what other processes take on a shared machine).
    times = {k: [] for k in ("convlab_ms", "onnxruntime_ms", "convlab_cpu_ms", "onnxruntime_cpu_ms")}
    from ..progress import bar
    for _ in bar(range(repeat), desc="timing", unit="round"):
        for key, fn in (("convlab", model.run), ("onnxruntime", lambda f: session.run(None, f))):
            t0, c0 = time.perf_counter(), time.thread_time()
            fn(feeds)
            times[key + "_cpu_ms"].append(time.thread_time() - c0)
            times[key + "_ms"].append(time.perf_counter() - t0)
    ms = {k: float(np.median(v) * 1e3) for k, v in times.items()}
    return {"outputs": outputs, **ms, "ratio": ms["convlab_ms"] / ms["onnxruntime_ms"],
            "cpu_ratio": ms["convlab_cpu_ms"] / ms["onnxruntime_cpu_ms"]}


def run(args) -> int:
    if args.repeat < 1:
        raise ConvlabError(f"--repeat must be >= 1, got {args.repeat}")
    arrays = cliargs.input_arrays(args.model, args.input)
    model = cliargs.load(args, arrays)
    feeds = model.executor.check_feeds(_inputs(model, arrays, args.seed))
    shapes = {k: shape for k, (shape, dtype) in model.inputs.items()}
    result = compare(model, ort_session(args.model, args.threads, shapes), feeds, args.repeat)
    fallbacks = [layer for layer in model.layers() if layer["note"]]
    if args.json:
        print(json.dumps(cliargs.to_jsonable({"model": args.model, **model.options, **result,
                                              "fallbacks": fallbacks}), indent=1))
        return 0
    from tabulate import tabulate
    rows = [[o["output"], "x".join(map(str, o["shape"])), o.get("error") or f"{o['max_abs']:.3g}",
             "" if "error" in o else f"{o['max_rel']:.3g}"] for o in result["outputs"]]
    print(tabulate(rows, headers=["output", "shape", "max abs err", "max rel err (to max |ref|)"], disable_numparse=True))
    print(f"\nlatency (median of {args.repeat}, {args.threads} thread(s), interleaved): convlab "
          f"{result['convlab_ms']:.3f} ms, onnxruntime {result['onnxruntime_ms']:.3f} ms, "
          f"ratio {result['ratio']:.2f}x (thread CPU time: {result['convlab_cpu_ms']:.3f} vs "
          f"{result['onnxruntime_cpu_ms']:.3f} ms, {result['cpu_ratio']:.2f}x)")
    if fallbacks:
        print(f"{len(fallbacks)} conv layer(s) fell back: " + "; ".join(f"{f['layer']}: {f['note']}" for f in fallbacks[:5]))
    return 0
