"""Whole models end to end, benchncnn-style: convlab vs onnxruntime vs ncnn in one interleaved run.

    convlab bench models [MODEL ...] [--real] [--threads 1] [--repeat 20] [--warmup 3] [--clock cpu|wall]
                         [--convlab-option KEY=VALUE ...] [--json] [--out FILE] [--profile]

MODEL is a zoo name (``mobilenet_v2``, or ``zoo:mobilenet_v2``), a real model (``centerface``, or
``builtin:centerface``: convlab.realmodels, cached by `make setup`) or a path to an .onnx file
(``--shape NAME=1,3,H,W`` fixes dynamic dims). Default: the five zoo models; ``--real`` adds
CenterFace and MTCNN R-Net / O-Net.

Per model:

1. every runner is built: onnxruntime (all graph optimisations; initializers that an old exporter
   also lists as graph inputs are dropped from the inputs first, or onnxruntime may not fold them),
   convlab as ``Model.load(path, input_shapes, threads=N)`` with its own defaults (plus any
   ``--convlab-option``), ncnn from pnnx's conversion of the same ONNX (peers/ncnn_model.py, cached);
2. each runner's outputs on the same input are checked against onnxruntime's: every output's max abs
   error must be <= 1e-4 x its max |value| (the relative figure is reported); a runner that fails the
   check, or cannot be built, is not timed and its column says why;
3. ``warmup`` untimed calls each, then ``repeat`` rounds in which every runner is called once, in a
   rotating order, so load on the shared machine hits all of them alike; min / median / max per runner
   and the ratio of convlab's median to the best peer's (faster of onnxruntime and ncnn).

Clock: ``cpu`` (the default at 1 thread) is the calling thread's CPU time, which leaves out the time
other processes take the core; every runtime runs single-threaded on the calling thread, so nothing is
missed. With ``--threads`` > 1 the worker threads' time would be missed: ``wall`` is the default there
and ``cpu`` is refused.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConvlabError
from ..peers.onnxruntime_conv import ort_model_bytes

RUNNERS = ("convlab", "onnxruntime", "ncnn")
PEERS = ("onnxruntime", "ncnn")
TOLERANCE = 1e-4
CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}


@dataclass
class Target:
    """One model to benchmark: where it comes from and how to feed it (built lazily)."""
    name: str
    kind: str                          # "zoo", "real", "file"
    path: Path | None = None           # the .onnx (real / file); zoo models are written to a temp file
    shapes: list[str] = field(default_factory=list)   # --shape arguments (files)


def resolve(names: list[str], real: bool = False, shapes: list[str] | None = None) -> list[Target]:
    """Model arguments -> targets, checked up front (a bad path is an error before anything runs)."""
    from .. import realmodels, zoo
    out: list[Target] = []
    given = list(names) or list(zoo.DEFAULT_MODELS)
    if real:
        given += [n for n in realmodels.BENCH_DEFAULT if n not in given and f"builtin:{n}" not in given]
    for arg in given:
        prefix, _, rest = arg.partition(":")
        if prefix == "zoo" and rest:
            if rest not in zoo.MODELS:
                raise ConvlabError(f"unknown zoo model {rest!r}; available: {', '.join(zoo.MODELS)}")
            out.append(Target(rest, "zoo"))
        elif prefix == "builtin" and rest:
            out.append(Target(rest, "real", realmodels.path(rest)))
        elif arg in zoo.MODELS:
            out.append(Target(arg, "zoo"))
        elif arg in realmodels.MODELS:
            out.append(Target(arg, "real", realmodels.path(arg)))
        else:
            p = Path(arg)
            if p.is_dir():
                raise ConvlabError(f"{arg}: is a directory, not an ONNX model")
            if not p.is_file():
                raise ConvlabError(f"{arg}: no such model file, and not a zoo model ({', '.join(zoo.MODELS)}) "
                                   f"or real model ({', '.join(realmodels.MODELS)})")
            out.append(Target(p.stem, "file", p, list(shapes or [])))
    return out


def _graph_inputs(model) -> list:
    inits = {i.name for i in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in inits]


def prepare(target: Target, workdir: str, seed: int = 1) -> tuple[Path, bytes, dict, dict]:
    """(onnx path, its bytes, input shapes, feeds) for a target."""
    import onnx
    from .. import realmodels, zoo
    if target.kind == "zoo":
        zm = zoo.build_model(target.name)
        data = zm.model.SerializeToString()
        path = Path(workdir) / f"{target.name}.onnx"
        path.write_bytes(data)
        s = zm.spec.input
        x = zoo.normalise_images(zoo.calibrate.generated_images(1, s.height, s.width, seed=seed), zm.spec)
        name = _graph_inputs(zm.model)[0].name
        return path, data, {name: tuple(x.shape)}, {name: x}
    data = target.path.read_bytes()
    try:
        model = onnx.load_from_string(data)
    except Exception as e:              # noqa: BLE001 - protobuf's DecodeError and friends
        raise ConvlabError(f"{target.path}: not a readable ONNX model ({_reason(e)})") from None
    inputs = _graph_inputs(model)
    if target.kind == "real":
        rm = realmodels.MODELS[target.name]
        shape = rm.bench_shape
        h, w = (shape[2], shape[3]) if rm.layout == "NCHW" else (shape[1], shape[2])
        img = (zoo.calibrate.generated_images(shape[0], h, w, seed=seed) - rm.mean) / rm.std
        x = np.ascontiguousarray(img if rm.layout == "NCHW" else img.transpose(0, 2, 3, 1), np.float32)
        return target.path, data, {inputs[0].name: shape}, {inputs[0].name: x}
    given = parse_shapes(target.shapes, [vi.name for vi in inputs], target.path)
    rng = np.random.default_rng(seed)
    shapes, feeds = {}, {}
    for vi in inputs:
        shape = given.get(vi.name) or tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)
        if not shape or any(d <= 0 for d in shape):
            raise ConvlabError(f"{target.path}: input {vi.name!r} has dynamic dims; give --shape {vi.name}=1,3,H,W")
        dtype = onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
        shapes[vi.name] = tuple(shape)
        feeds[vi.name] = (rng.standard_normal(shape).astype(dtype) if np.issubdtype(dtype, np.floating)
                          else np.zeros(shape, dtype))
    return target.path, data, shapes, feeds


def parse_shapes(specs: list[str], inputs: list[str], path) -> dict[str, tuple[int, ...]]:
    """--shape NAME=1,3,H,W (NAME= may be left out for a single-input model) -> {name: dims}."""
    out = {}
    for spec in specs:
        name, sep, dims = spec.rpartition("=")
        if not sep:
            if len(inputs) != 1:
                raise ConvlabError(f"--shape {spec}: {path} has inputs {inputs}; write NAME=dims")
            name = inputs[0]
        if name not in inputs:
            raise ConvlabError(f"--shape {spec}: {path} has no input {name!r} (its inputs: {inputs})")
        try:
            out[name] = tuple(int(d) for d in dims.split(","))
        except ValueError:
            raise ConvlabError(f"--shape {spec}: dims must be comma-separated integers") from None
    return out


def check(outputs: list[np.ndarray], reference: list[np.ndarray], names: list[str]) -> dict:
    """Max abs error per output vs the reference, and whether each is <= TOLERANCE x max|reference|."""
    rows, ok, worst = {}, True, 0.0
    for name, y, r in zip(names, outputs, reference):
        y = np.asarray(y)
        if y.shape != r.shape:
            rows[name] = {"shape": list(y.shape), "expected_shape": list(r.shape), "ok": False}
            ok = False
            worst = float("inf")
            continue
        err = float(np.max(np.abs(y.astype(np.float64) - r))) if r.size else 0.0
        scale = float(np.max(np.abs(r))) if r.size else 0.0
        rel = err / scale if scale > 0 else (0.0 if err == 0 else float("inf"))
        good = bool(np.isfinite(err) and err <= TOLERANCE * scale)
        rows[name] = {"max_abs_err": err, "max_abs_ref": scale, "rel_err": rel, "ok": good}
        ok &= good
        worst = max(worst, rel) if np.isfinite(rel) else float("inf")
    return {"ok": ok, "rel_err": worst, "tolerance": TOLERANCE, "outputs": rows}


def _reason(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0] if msg else ''}".rstrip(": ")


def build_runners(path: Path, data: bytes, shapes: dict, feeds: dict, threads: int,
                  convlab_options: dict, peers: tuple[str, ...] = PEERS) -> tuple[dict, dict, dict]:
    """(callables of the runners that passed the check, per-runner report, convlab Model or None)."""
    report: dict[str, dict] = {}
    fns: dict = {}
    model = None
    ref = names = None
    # onnxruntime: the reference every runner is checked against, built even when it is not timed
    try:
        from ..peers.onnxruntime_conv import ort_session
        ort_data, dropped = ort_model_bytes(data)
        t0 = time.perf_counter()
        sess = ort_session(ort_data, threads)
        load = time.perf_counter() - t0
        names = [o.name for o in sess.get_outputs()]
        ref = sess.run(None, feeds)
        report["onnxruntime"] = {"status": "ok", "load_seconds": load, "reference": True,
                                 "check": check(ref, ref, names)}
        if dropped:
            report["onnxruntime"]["note"] = f"{dropped} initializers dropped from the graph inputs"
        if "onnxruntime" in peers:
            fns["onnxruntime"] = lambda s=sess: s.run(None, feeds)
        else:
            report["onnxruntime"].update(status="skipped", reason="reference only, not timed (--peers)")
    except Exception as e:                # noqa: BLE001 - any failure is reported in the column
        report["onnxruntime"] = {"status": "error", "reason": _reason(e)}
    # Without a reference the others cannot be checked: they are still built, so their own errors show,
    # but not timed.

    def add(name, build, run_to_list):
        nonlocal model
        try:
            t0 = time.perf_counter()
            obj, extra = build()
            load = time.perf_counter() - t0
            outs = run_to_list(obj)
            entry = {"status": "ok", "load_seconds": load, **extra}
            if ref is None:
                entry.update(status="unchecked", reason="no onnxruntime reference to check against")
            else:
                entry["check"] = check(outs, ref, names)
                if not entry["check"]["ok"]:
                    bad = [k for k, v in entry["check"]["outputs"].items() if not v["ok"]]
                    entry.update(status="mismatch", reason=f"outputs differ from onnxruntime: {', '.join(bad)} "
                                                           f"(rel err {entry['check']['rel_err']:.2g} > {TOLERANCE:g})")
            report[name] = entry
            if entry["status"] == "ok":
                fns[name] = lambda o=obj: run_to_list(o)
            if name == "convlab":
                model = obj
        except Exception as e:            # noqa: BLE001
            status = "unavailable" if type(e).__name__ == "NcnnUnavailable" else "error"
            report[name] = {"status": status, "reason": _reason(e)}

    def build_convlab():
        from ..engine import Model
        m = Model.load(str(path), dict(shapes), threads=threads, **convlab_options)
        return m, {"options": dict(convlab_options), "resolved_options": dict(getattr(m, "options", {}) or {})}

    def convlab_outputs(m):
        out = m.run(feeds)
        return [out[n] for n in names] if names else list(out.values())

    add("convlab", build_convlab, convlab_outputs)

    if "ncnn" in peers:
        def build_ncnn():
            from ..peers.ncnn_model import NcnnModel, convert
            conv = convert(data, shapes)
            out_shapes = [r.shape for r in ref] if ref is not None else None
            if out_shapes is None:
                raise ConvlabError("needs onnxruntime's output shapes to map ncnn's outputs")
            return NcnnModel(conv["param"], conv["bin"], list(shapes), out_shapes, threads), {
                "pnnx": {k: conv[k] for k in ("cache", "dir", "seconds", "rewrites", "pnnx")}}
        add("ncnn", build_ncnn, lambda n: n(feeds))
    else:
        report["ncnn"] = {"status": "skipped", "reason": "not requested (--peers)"}
    return fns, {k: report[k] for k in RUNNERS}, model


def time_round_robin(fns: dict, repeat: int, warmup: int, clock: str, progress=None) -> dict[str, list[float]]:
    """Seconds per call of each callable: warm-up calls, then `repeat` rounds of one call each in a rotating order."""
    timer = CLOCKS[clock]
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
        if progress is not None:
            progress.update(1)
    samples: dict[str, list[float]] = defaultdict(list)
    for rnd in range(repeat):
        k = rnd % len(names) if names else 0
        for n in names[k:] + names[:k]:
            t0 = timer()
            fns[n]()
            samples[n].append(timer() - t0)
        if progress is not None:
            progress.update(1)
    return dict(samples)


def where_time_goes(model, feeds, repeat: int, clock: str) -> dict:
    """convlab's per-layer profile: share of time by layer kind and the five slowest layers."""
    prof = model.profile(feeds, repeat=max(3, repeat), clock=clock)
    share: dict[str, float] = defaultdict(float)
    total = sum(r["ms"] for r in prof.rows) or 1.0
    specs = {step.node.name: step.spec for step in model.executor.steps}
    for row in prof.rows:                   # by name: the native engine adds a "(rest)" row of its own
        spec = specs.get(row["layer"])
        kind = ("outside the steps" if row["layer"] == "(rest)" else "other ops" if spec is None else "depthwise conv" if spec.is_depthwise and spec.groups > 1
                else "1x1 conv" if spec.kernel_size == (1, 1) else f"{spec.kh}x{spec.kw} conv")
        share[kind] += 100 * row["ms"] / total
    top = sorted(prof.rows, key=lambda r: -r["ms"])[:5]
    return {"share_pct": dict(sorted(share.items(), key=lambda kv: -kv[1])),
            "top_layers": [{k: r[k] for k in ("layer", "op", "input", "kernel", "ms", "pct", "gflops")} for r in top]}


def _stats(samples: list[float]) -> dict:
    ms = np.asarray(samples) * 1e3
    return {"min": float(ms.min()), "median": float(np.median(ms)), "max": float(ms.max())}


def bench_model(target: Target, *, threads: int, repeat: int, warmup: int, clock: str, convlab_options: dict,
                peers: tuple[str, ...] = PEERS, profile: bool = False, progress=None, seed: int = 1) -> dict:
    with tempfile.TemporaryDirectory(prefix="convlab-bench-models-") as tmp:
        path, data, shapes, feeds = prepare(target, tmp, seed)
        fns, runners, model = build_runners(path, data, shapes, feeds, threads, convlab_options, peers)
        samples = time_round_robin(fns, repeat, warmup, clock, progress)
        for name, s in samples.items():
            runners[name]["ms"] = _stats(s)
            runners[name]["samples_ms"] = [v * 1e3 for v in s]
        med = {n: r["ms"]["median"] for n, r in runners.items() if "ms" in r}
        timed_peers = [p for p in PEERS if p in med]
        best = min(timed_peers, key=med.get) if timed_peers else None
        for n in med:
            runners[n]["ratio_to_best_peer"] = med[n] / med[best] if best else None
        row = {"model": target.name, "kind": target.kind,
               "path": str(target.path) if target.kind != "zoo" else f"zoo:{target.name}",
               "sha256": hashlib.sha256(data).hexdigest(), "inputs": {k: list(v) for k, v in shapes.items()},
               "runners": runners, "best_peer": best,
               "ratio": runners["convlab"].get("ratio_to_best_peer")}
        if profile and model is not None and "convlab" in fns and hasattr(model, "profile"):
            try:
                row["profile"] = where_time_goes(model, feeds, repeat, clock)
            except Exception as e:          # noqa: BLE001 - the profile is extra, never the reason a run fails
                row["profile"] = {"error": _reason(e)}
        return row


def versions() -> dict:
    from importlib import metadata
    out = {}
    for lib in ("convlab", "onnxruntime", "ncnn", "pnnx", "numpy", "numba", "onnx"):
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = None
    return out


def _loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def run(targets: list[Target], *, threads: int = 1, repeat: int = 20, warmup: int = 3, clock: str | None = None,
        convlab_options: dict | None = None, peers: tuple[str, ...] = PEERS, profile: bool = False,
        progress: bool = True) -> dict:
    from .machine import machine_info
    if threads < 1 or repeat < 1 or warmup < 0:
        raise ConvlabError("--threads and --repeat must be >= 1, --warmup >= 0")
    clock = clock or ("cpu" if threads == 1 else "wall")
    if clock not in CLOCKS:
        raise ConvlabError(f"--clock must be cpu or wall, got {clock!r}")
    if clock == "cpu" and threads > 1:
        raise ConvlabError("--clock cpu times the calling thread only, which misses the worker threads of "
                           f"--threads {threads}: use --clock wall")
    try:
        import onnxruntime as ort
        ort.set_default_logger_severity(3)      # old exporters' models make it warn once per initializer
    except ImportError:
        pass
    convlab_options = dict(convlab_options or {})
    before = _loadavg()
    machine = machine_info(threads=threads)
    t0 = time.time()
    from tqdm import tqdm
    bar = tqdm(total=len(targets) * (repeat + warmup), desc="bench models", unit="round",
               disable=True if not progress else None, leave=False)     # None: off when stderr is not a terminal
    rows = []
    try:
        for t in targets:
            bar.set_description(t.name)
            rows.append(bench_model(t, threads=threads, repeat=repeat, warmup=warmup, clock=clock,
                                    convlab_options=convlab_options, peers=peers, profile=profile, progress=bar))
    finally:
        bar.close()
    return {"benchmark": "convlab bench models", "threads": threads, "clock": clock, "repeat": repeat,
            "warmup": warmup, "tolerance": TOLERANCE, "convlab_options": convlab_options,
            "cpu": machine["cpu"], "versions": versions(), "git": machine["git"],
            "load_average": {"before": before, "after": _loadavg()},
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
            "seconds": round(time.time() - t0, 2), "machine": machine, "models": rows}


def _cell(r: dict) -> str:
    if "ms" in r:
        m = r["ms"]
        return f"{m['min']:.2f} / {m['median']:.2f} / {m['max']:.2f}"
    if r["status"] == "skipped":
        return "-"
    return {"unavailable": "n/a", "mismatch": "WRONG", "unchecked": "unchecked"}.get(r["status"], "error") + " [*]"


def _err(r: dict) -> str:
    c = r.get("check")
    return f"{c['rel_err']:.1e}" if c and np.isfinite(c["rel_err"]) else ("inf" if c else "-")


def format_table(result: dict) -> str:
    from tabulate import tabulate
    v = result["versions"]
    clock = {"cpu": "thread CPU time", "wall": "wall time"}[result["clock"]]
    lb, la = result["load_average"]["before"], result["load_average"]["after"]
    conv_opts = result["convlab_options"]
    resolved = next((" ".join(f"{k}={v}" for k, v in m["runners"]["convlab"]["resolved_options"].items())
                     for m in result["models"] if m["runners"]["convlab"].get("resolved_options")), "")
    head = [f"# {result['cpu']}, {result['threads']} thread(s), {clock}; ms min / median / max of {result['repeat']} "
            f"interleaved runs after {result['warmup']} warm-up",
            f"# convlab {v['convlab']} (git {result['git']}) Model.load defaults"
            + (f" + {conv_opts}" if conv_opts else "") + (f" ({resolved})" if resolved else "")
            + f"; onnxruntime {v['onnxruntime']}; ncnn {v['ncnn']} via pnnx {v['pnnx']} (fp32)",
            f"# load average before {lb}, after {la}; outputs checked vs onnxruntime (rel err = max abs err / "
            f"max |out|, must be <= {result['tolerance']:g})"]
    rows, notes = [], []
    for m in result["models"]:
        rs = m["runners"]
        ratio = f"{m['ratio']:.2f}x" if m.get("ratio") else "-"
        rows.append([m["model"], ",".join("x".join(map(str, s)) for s in m["inputs"].values())]
                    + [_cell(rs[n]) for n in RUNNERS]
                    + [m["best_peer"] or "-", ratio, _err(rs["convlab"]), _err(rs["ncnn"])])
        for n in RUNNERS:
            if rs[n].get("reason") and rs[n]["status"] != "skipped":
                notes.append(f"[*] {m['model']} {n}: {rs[n]['reason']}")
            if n == "ncnn" and rs[n].get("pnnx", {}).get("rewrites"):
                notes.append(f"    {m['model']} ncnn: pnnx input rewritten: {'; '.join(rs[n]['pnnx']['rewrites'])}")
    table = tabulate(rows, headers=["model", "input", "convlab ms", "onnxruntime ms", "ncnn ms", "best peer",
                                    "convlab / best", "err convlab", "err ncnn"], disable_numparse=True,
                     tablefmt="github")
    out = head + [table] + ([""] + notes if notes else [])
    for m in result["models"]:
        p = m.get("profile")
        if p and "share_pct" in p:
            out.append(f"\n{m['model']} convlab: " + ", ".join(f"{k} {v:.0f}%" for k, v in p["share_pct"].items()))
            out += [f"  {t['layer']:<14} {t['op']:<16} {t['input']:<14} {t['kernel']:<18} {t['ms']:7.3f} ms "
                    f"{t['pct']:5.1f}%" for t in p["top_layers"]]
        elif p:
            out.append(f"\n{m['model']} convlab profile failed: {p['error']}")
    return "\n".join(out)
